"""poorenv: declarative, lockfile-driven builder of PYTHONHOME-style Python environments."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
