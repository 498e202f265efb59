"""Collection: parse a request body, validate and enrich each event, and build store items.

Pure code lives in ``validate``, ``enrich``, ``useragent`` and ``limits``; ``ingest`` wires
them to the store.
"""
