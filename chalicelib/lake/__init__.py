"""The lake: layout, schema, row encoding, Parquet I/O and the codecs it may use."""
