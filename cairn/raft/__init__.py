"""Raft: a pure consensus core (no I/O) and the asyncio runtime that drives it."""
