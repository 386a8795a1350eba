"""pytest fixtures for this piece of the harness (filled in by its owner)."""

from __future__ import annotations
