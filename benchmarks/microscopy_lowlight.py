"""Low-light version of the real C. elegans example: napari-glra and Richardson–Lucy at 10 and 30 photons.

The confocal C. elegans image of ``../shared/data/microscopy/celegans2d`` (sdeconv project,
BSD-3; 316², 0.0426 µm/px, with its 13² Gaussian PSF) has about 1 % noise.  Live-cell imaging
is often done at a few tens of photons per pixel.  This script makes low-light versions of the
same field: the counts above the image's 0.1st percentile are taken as proportional to the
photons, scaled so that the 99.9th percentile receives ``PEAK`` photons, drawn from a Poisson
distribution, plus 2 photons (RMS) of Gaussian read noise and a camera offset of 100 counts
(uint16).  That is a simulation of the light level on real structures, not a real low-light
acquisition: the original's own noise (~1 %) stays in.

Each low-light image is restored by napari-glra (the given models, noise estimated; a warning
outside a model's training range is recorded) and by Richardson–Lucy stopped by the
discrepancy principle (as in ``microscopy_example.py``).  No ground truth: the original
high-light image is shown beside them as the reference of what the structures look like.

Run::

    python benchmarks/microscopy_lowlight.py                       # model "microscopy"
    python benchmarks/microscopy_lowlight.py --models trainer/runs/microscopy/export_v1 \\
        trainer/runs/microscopy_lowlight3/export microscopy \\
        --labels v1 v2 "v3 (shipped)"                               # the figure in docs/microscopy.md
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from microscopy_example import CEL_CROP, DEFAULT_DATA, rl_discrepancy  # noqa: E402

DOC = ROOT / "docs" / "microscopy.md"
MARK_BEGIN = "<!-- lowlight: begin (written by benchmarks/microscopy_lowlight.py) -->"
MARK_END = "<!-- lowlight: end -->"
PEAKS = (10.0, 30.0)
READ_NOISE = 2.0
OFFSET = 100


def low_light(img: np.ndarray, peak: float, rng: np.random.Generator) -> np.ndarray:
    """The image at ``peak`` photons (99.9th percentile), Poisson + read noise, as uint16 counts."""
    lo, hi = np.percentile(img, [0.1, 99.9])
    photons = np.clip(img - lo, 0, None) * (peak / (hi - lo))
    counts = rng.poisson(photons) + rng.normal(0.0, READ_NOISE, img.shape) + OFFSET
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--models", nargs="+", default=["microscopy"], help="model names or directories")
    ap.add_argument("--labels", nargs="+", default=None, help="a label per model (default: its name)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    ap.add_argument("--no-docs", dest="docs", action="store_false")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    src = args.data / "celegans2d" / "celegans.tif"
    if not src.is_file():
        print(f"low-light example skipped: {src} is absent (pass --data DIR)")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tifffile
    import torch

    from napari_glra.api import OutsideTrainingWarning, deconvolve, estimate_noise, load_model, prepare_psf
    from napari_glra.engine.intensity import fit_intensity_map

    torch.set_num_threads(1)
    img = tifffile.imread(src).astype(np.float32)
    k = prepare_psf(tifffile.imread(args.data / "celegans2d" / "psf_gaussian_sigma1.5.tif"))
    models = [load_model(m) for m in args.models]
    labels = args.labels or [f"{m.name} v{m.version}" for m in models]
    for m in models:  # warm-up
        deconvolve(np.full((64, 64), 0.5, np.float32), k, model=m, noise_level=0.01)
    rng = np.random.default_rng(args.seed)
    rows, table = [], []
    for peak in PEAKS:
        y = low_light(img, peak, rng)
        sigma = estimate_noise(y)
        results = [("low-light input", y)]
        table.append(f"| {peak:g} | input | estimated noise {100 * sigma:.1f} % of the map's scale |")
        for m, label in zip(models, labels):
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out, info = deconvolve(y, k, model=m, return_info=True)
            seconds = time.perf_counter() - t0
            outside = [str(w.message) for w in caught if issubclass(w.category, OutsideTrainingWarning)]
            results.append((f"napari-glra ({label})", out))
            table.append(
                f"| {peak:g} | napari-glra, {label} | noise estimated ({100 * info['noise_level']:.1f} % of "
                f"its map's scale); {seconds:.2f} s"
                + (f"; warning: {outside[0]}" if outside else "; no warning")
                + " |"
            )
        imap = fit_intensity_map([y], y.dtype)
        t0 = time.perf_counter()
        r01, its, _ = rl_discrepancy(imap.forward(y).astype(np.float64), k, sigma)
        seconds = time.perf_counter() - t0
        results.append((f"Richardson–Lucy ({its} it.)", imap.inverse(r01.astype(np.float32))))
        table.append(
            f"| {peak:g} | Richardson–Lucy | {its} iterations (discrepancy principle); {seconds:.2f} s |"
        )
        rows.append((peak, results))
    ncol = len(rows[0][1]) + 1
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.6 * ncol, 2.8 * len(rows)), constrained_layout=True)
    ref = img[CEL_CROP]
    for i, (peak, results) in enumerate(rows):
        for j, (name, r) in enumerate([("high-light original", img), *results]):
            crop = np.asarray(r, np.float64)[CEL_CROP]
            lo, hi = np.percentile(crop if j else ref, [0.5, 99.8])
            axes[i, j].imshow(crop, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            axes[i, j].set_title(name, fontsize=8)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 1].set_ylabel(f"{peak:g} photons")
        axes[i, 1].set_title(f"input, {peak:g} photons at the 99.9th pct.", fontsize=8)
    fig.suptitle("C. elegans at low light (simulated from the real image), 100×100 px crops", fontsize=10)
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "microscopy_celegans_lowlight.png", dpi=110)
    plt.close(fig)
    text = "| photons | method | parameters, time, warnings |\n|---|---|---|\n" + "\n".join(table)
    print(text)
    if args.docs and DOC.is_file():
        doc = DOC.read_text()
        if MARK_BEGIN in doc and MARK_END in doc:
            head, rest = doc.split(MARK_BEGIN)
            _, tail = rest.split(MARK_END)
            DOC.write_text(f"{head}{MARK_BEGIN}\n\n{text}\n\n{MARK_END}{tail}")
            print("written into", DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
