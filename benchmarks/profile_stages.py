"""Where the time of one restoration goes: the engine's stages, timed inside a real call.

Wraps the engine's steps with wall-clock timers and runs ``napari_glra.api.deconvolve`` on
the benchmark image of ``bench_inference.py`` (motion kernel, 1 % noise, noise level given):

- ``kernel coefficients``: the four noise-matched pseudo-inverses and their GLRA coefficients;
- ``border extension``: :func:`napari_glra.engine.border.border_extension` (the ADMM);
- ``Fourier block``: the exact deconvolution block (FFTs and the per-frequency products);
- ``artifact block``: the convolutions after it (bfloat16 where the CPU has it; half-resolution
  models only, for the others it is part of ``rest``);
- ``rest``: everything else (input checks, intensity map, padding, copies).

Prints the fastest of ``--repeats`` calls per stage after two warm-up calls (milliseconds) and
the total.  Run: ``python benchmarks/profile_stages.py [--sizes 512 1024] [--model default]
[--threads 2]``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def profile(size: int, model: str, repeats: int) -> dict[str, float]:
    """Per-stage seconds (the minimum over ``repeats`` calls) of one ``size``² restoration."""
    from bench_inference import benchmark_image

    import napari_glra.engine.extended as extended
    import napari_glra.engine.plan as plan
    import napari_glra.glra.blocks as blocks
    import napari_glra.glra.network as network
    from napari_glra import api

    img, k = benchmark_image(size)
    m = api.load_model(model)
    current: dict[str, float] = collections.defaultdict(float)  # stage -> seconds in this call
    patched = []

    def wrap(owner, name: str, key: str) -> None:
        f = getattr(owner, name)

        def timed(*a, **kw):
            t0 = time.perf_counter()
            out = f(*a, **kw)
            current[key] += time.perf_counter() - t0
            return out

        patched.append((owner, name, f))
        setattr(owner, name, timed)

    wrap(plan, "kernel_coefficients", "kernel coefficients")
    wrap(extended, "border_extension", "border extension")
    wrap(network.GLRANet, "_fourier_block", "Fourier block")
    wrap(blocks, "scaled_flat_block", "artifact block")
    calls = []
    try:
        for i in range(repeats + 2):  # two warm-up calls
            current.clear()
            t0 = time.perf_counter()
            api.deconvolve(img, k, model=m, noise_level=0.01)
            total = time.perf_counter() - t0
            if i >= 2:
                calls.append({**current, "rest": total - sum(current.values()), "total": total})
    finally:
        for owner, name, f in patched:
            setattr(owner, name, f)
    # (full-resolution models run their artifact block outside scaled_flat_block: it is in "rest")
    return {key: float(np.min([c[key] for c in calls])) for key in calls[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--model", default="default")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    for size in args.sizes:
        res = profile(size, args.model, args.repeats)
        print(f"{size}², model {args.model!r} (fastest of {args.repeats} calls, ms):")
        for key, v in res.items():
            print(f"  {key:20s} {1e3 * v:8.1f}")


if __name__ == "__main__":
    main()
