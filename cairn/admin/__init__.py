"""`cairn admin ...`: operator commands for the cluster map, users and keys, data node scrub and compaction, and the background service (gc)."""
