"""The benchmark package lives at the repository root (`make bench` runs it with PYTHONPATH=tests:.)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[3])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
