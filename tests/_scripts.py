"""Load a repository script (benchmarks/, docs/) as a module, for the tests that call its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relpath: str) -> ModuleType:
    """Import ``ROOT / relpath`` (e.g. ``"docs/hooks.py"``) under its file name.

    Its folder goes on ``sys.path`` first, as when the script runs, so that it imports its siblings
    (``benchmarks/run_benchmarks.py`` its ``suite_*`` modules).
    """
    path = ROOT / relpath
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
