"""Leave-one-out check of the pooled resolution on the low-light fluorescence card.

The card's pooled resolution (:func:`napari_glra.metrics.pooled_resolution`) is one crossing
of the ring powers summed over the test images, so images with much signal weigh most.  This
script rebuilds one (photon level, PSF family) cell of the card exactly as ``glra-train
evaluate`` does (same seeded images, kernels and noise), restores it with a model and with
TV (valid data term, the card's tuned weight), and prints per image its signal power, both
methods' resolution, and the pooled resolution of both with that image left out.  It is how
docs/microscopy.md found that on the old 12-image card one image decided the 10-photon
Gaussian cell.  Needs the trainer (``pip install -e trainer``)::

    python benchmarks/pooled_resolution_loo.py --model microscopy --images 12
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from glra_trainer.baselines import degrade_level, noise_key, run_baseline
from glra_trainer.evaluate import case_rng, fluorescence_set
from napari_glra import api
from napari_glra.metrics import pooled_resolution, resolution
from napari_glra.physics.kernels import sample_kernel

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ["gaussian", "defocus"]  # the card's order: it seeds each cell's generator


def main() -> None:
    """Print the per-image and leave-one-out table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="microscopy", help="shipped model name or model directory")
    p.add_argument("--level", type=float, default=10.0, help="peak photon count (default 10)")
    p.add_argument("--family", default="gaussian", choices=FAMILIES)
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument(
        "--tuned",
        default=str(ROOT / "trainer/runs/microscopy_lowlight/eval_v1/summary.json"),
        help="summary.json holding the card's tuned TV weights",
    )
    a = p.parse_args()
    tuned = json.loads(Path(a.tuned).read_text())["tuned_parameters"]["tv_valid"][a.family]
    lam = tuned[noise_key(a.level)]["params"]
    rng = case_rng(a.seed, a.level, FAMILIES.index(a.family))
    cases = []
    for x in fluorescence_set(a.images, 192, a.seed):
        k, params = sample_kernel(a.family, rng)
        y, xs = degrade_level(x, k, a.level, rng, "poisson_gaussian", 2.0, None)
        cases.append((y, xs, k, params))
    truth = [c[1] for c in cases]
    model = [np.clip(api.deconvolve(y, k, model=a.model, device="cpu"), 0, 1) for y, _, k, _ in cases]
    tv = [np.clip(run_baseline("tv_valid", y, k, lam), 0, 1) for y, _, k, _ in cases]
    print(f"{a.images} images, {a.level:g} photons, {a.family}: pooled resolution (px)")
    print(f"all: model {pooled_resolution(model, truth):.2f}, TV {pooled_resolution(tv, truth):.2f}")
    print("image | kernel | signal power | resolution model / TV | pooled without it: model / TV")
    for i, (_, xs, _, params) in enumerate(cases):
        keep = [j for j in range(len(cases)) if j != i]
        pm = pooled_resolution([model[j] for j in keep], [truth[j] for j in keep])
        pt = pooled_resolution([tv[j] for j in keep], [truth[j] for j in keep])
        kern = ", ".join(f"{n} {v:.3g}" for n, v in params.items() if isinstance(v, (int, float)))
        print(
            f"{i:5d} | {kern} | {float(np.var(xs)):.5f} | "
            f"{resolution(model[i], xs):.1f} / {resolution(tv[i], xs):.1f} | {pm:.2f} / {pt:.2f}"
        )


if __name__ == "__main__":
    main()
