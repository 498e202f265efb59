"""Data rights: cookieless visitor ids (daily salts), erasure across store and lake, retention."""
