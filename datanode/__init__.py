"""Shard storage: append-only volume files, a per-node SQLite index, checksums everywhere."""
