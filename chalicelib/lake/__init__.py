"""The lake: partition layout, the one column list and Arrow schema, row encoding, Parquet I/O, codecs.

Both the export (writer) and the query side (clickstream.lake, reader) import this package;
it uses nothing of ours but settings and errors. ``codecs`` says which Parquet codecs the
Lambda layer's pyarrow can write and read, and which one the lake uses.
"""
