"""The listener: HTTP protocol limits, connection cap, metrics listener."""
