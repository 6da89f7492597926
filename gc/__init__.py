"""Reclaiming space (deleted blobs, orphans, expired uploads, compaction), scrub and repair."""
