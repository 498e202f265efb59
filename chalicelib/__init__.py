"""Everything the Lambda functions run. Chalice ships this folder with app.py."""
