"""The live view: the last 30 minutes read from DynamoDB, not the lake (docs/decisions/0010-live-view.md)."""
