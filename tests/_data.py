"""Where the tests find the project's shared data (``../shared/data`` beside the clone), if anywhere.

A user's clone has no ``../shared``: the tests that need it skip, the others use
scikit-image's bundled images.  ``NAPARI_GLRA_TESTS_WITHOUT_SHARED=1`` makes a clone
that has it behave like a user's (``make test-user-layout``).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_data(*parts: str) -> Path | None:
    """``../shared/data/<parts>`` if it exists (and the user layout is not simulated), else None."""
    if os.environ.get("NAPARI_GLRA_TESTS_WITHOUT_SHARED", "") not in ("", "0"):
        return None
    path = ROOT.parent.joinpath("shared", "data", *parts)
    return path if path.exists() else None
