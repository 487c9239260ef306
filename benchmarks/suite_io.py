"""Output helpers of the benchmark suite: progress log, CSV files, text formatting, pyplot."""

from __future__ import annotations

import csv
from pathlib import Path


def log(msg: str) -> None:
    print(msg, flush=True)


def fmt_time(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def span(lo_hi) -> str:
    """``"7"`` or ``"7–9"`` for a (low, high) pair."""
    lo, hi = lo_hi
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
