"""The background service's domain errors (mapped to gRPC status codes only in gc/client.py)."""

from __future__ import annotations


class GcError(Exception):
    """Base of the background service's errors; also an unexpected failure reported by it."""


class UnknownWorker(GcError):
    """A worker name the service does not run."""


class GcUnavailable(GcError):
    """The service could not be reached, timed out, or is stopping."""
