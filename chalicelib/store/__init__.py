"""DynamoDB: the event store, the apps and keys, the export's state. Pure key design in keys.py."""
