"""The `clickstream` command line, the local stack and the local dev server (never shipped to Lambda)."""
