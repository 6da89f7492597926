"""Buckets, object versions, multipart uploads, IAM records and the GC queue on SQLite shards."""
