"""The lake: partition layout, the one column list and Arrow schema, row encoding, Parquet I/O.

Both the export (writer) and the query side (clickstream.lake, reader) import this package;
it uses nothing of ours but settings and errors.
"""
