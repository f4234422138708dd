"""The admin console at /ui: server-rendered pages over rollup tables (see rollups.py)."""
