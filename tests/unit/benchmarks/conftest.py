"""The benchmark scripts import each other as top-level modules (they run as `python benchmarks/x.py`),
so their folder goes on sys.path for these tests."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
