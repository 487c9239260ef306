"""Section ``scaling``: time per megapixel and peak memory (``bench_inference.py`` in a subprocess)."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from suite_io import log
from suite_settings import HERE, ROOT


def run_scaling(args, P: dict, model_dir: str, figures: Path, data: Path) -> dict[str, Any]:
    t0 = time.time()
    cmd = [
        sys.executable,
        str(HERE / "bench_inference.py"),
        "--model",
        model_dir,
        "--sizes",
        *[str(s) for s in P["scaling_sizes"]],
        "--csv",
        str(data / "scaling.csv"),
        "--plot",
        str(figures / "scaling.png"),
        "--repeats",
        str(P["scaling_repeats"]),
    ]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.device not in ("auto", None):
        cmd += ["--devices", args.device]
    from napari_glra.api import available_models

    also = [m for m in P.get("scaling_also_models", []) if m in available_models() and m != model_dir]
    if also:
        cmd += ["--also-models", *also]
    log("[scaling] " + " ".join(cmd[1:]))
    proc = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit("bench_inference.py failed")
    rows = list(csv.DictReader(open(data / "scaling.csv")))
    for r in rows:
        for key in ("size", "megapixels", "seconds", "s_per_mp", "peak_rss_mb"):
            r[key] = float(r[key])
    return {"rows": rows, "seconds": time.time() - t0}
