"""Cairn: an S3-compatible, erasure-coded object storage cluster.

The import package `cairn` is this folder plus the service folders at the repository root,
mapped as subpackages (`cairn.api_service`, `cairn.placement`, `cairn.datanode`,
`cairn.metadata`, `cairn.gc`, `cairn.proto`). This folder holds the cross-cutting code.
"""

__version__ = "0.1.0"
