"""Measure how large a kernel each shipped model restores correctly, per family and size.

For every model, family (Gaussian, disk, box, motion, defocus) and size, three
natural images (BSDS500 test images if ``../shared`` is there, else scikit-image's)
are blurred (reflect-padded, same size), 1 % Gaussian noise is added, and the
model restores them with the known noise level.  A case *passes* when on every
image the output's mean stays within 3 % of the input's and the PSNR beats the
blurred input's.  A kernel's size is its *extent*: the side of the centred square
holding 99 % of its energy (:func:`napari_glra.engine.kernel_fit.kernel_extent`).

The model's limit is the largest extent up to which every case of the model's own
training families passes (kernels of other families, such as the box, are measured and
reported, not used for the limit: a model is made for the families it was trained on).
``--write`` stores it in each model's ``config.json`` (``kernel_limit``), where the
engine reads it: larger kernels are refused before any work.  Results go to ``docs/data/kernel_limits.csv``.

    python benchmarks/kernel_limits.py [--models default fast microscopy] [--write]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

from napari_glra import api
from napari_glra.engine.kernel_fit import kernel_extent
from napari_glra.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]
NOISE = 0.01
MEAN_TOLERANCE = 0.03
SIZE = 320

#: Family -> list of (label, make_kernel parameters); ``box`` is a uniform square.
CASES: dict[str, list[tuple[float, dict]]] = {
    "gaussian": [(s, {"sigma": s}) for s in (2, 4, 6, 7, 8, 9, 10, 12)],
    "disk": [(r, {"radius": r}) for r in (4, 8, 10, 12, 14, 16, 18, 20, 24)],
    "box": [(n, {"n": n}) for n in (9, 15, 21, 25, 29, 33, 37, 45)],
    "motion": [
        (length, {"length": length, "seed": s}) for length in (15, 21, 25, 27, 31, 35) for s in (1, 2)
    ],
    "defocus": [
        (z, {"na": na, "pixel_size": px, "defocus": z})
        for na, px in ((1.4, 0.065), (0.8, 0.16))
        for z in (0.0, 0.5, 1.0, 1.5, 2.5, 4.0)
    ],
}


def natural_images(n: int = 3) -> list[np.ndarray]:
    """``n`` grey [0, 1] images of ``SIZE``² (BSDS500 test if present, else scikit-image)."""
    folder = ROOT.parent / "shared" / "data" / "bsds500" / "test"
    files = sorted(folder.glob("*.jpg"))[:n] if folder.is_dir() else []
    if len(files) == n:
        from skimage import io

        imgs = [io.imread(f, as_gray=True).astype(np.float64) for f in files]
    else:
        from skimage import color, data

        imgs = [data.camera() / 255.0, color.rgb2gray(data.astronaut()), color.rgb2gray(data.coffee())][:n]
    return [np.ascontiguousarray(im[: SIZE if im.shape[0] >= SIZE else None, :SIZE]) for im in imgs]


def make(family: str, params: dict) -> np.ndarray:
    """The kernel of a case."""
    if family == "box":
        return np.full((params["n"], params["n"]), 1.0 / params["n"] ** 2)
    return api.make_kernel(family, **params)


def measure(model: api.ModelFiles, images: list[np.ndarray]) -> list[dict]:
    """One row per case: extent, worst mean error, worst PSNR gain over the blurred input."""
    rows = []
    rng = np.random.default_rng(0)
    for family, cases in CASES.items():
        for label, params in cases:
            try:
                k = make(family, params)
            except ValueError:
                continue
            ext = kernel_extent(k)
            mean_err, gain = 0.0, np.inf
            for x in images:
                p = k.shape[0] // 2
                y = fftconvolve(np.pad(x, p, mode="reflect"), k, mode="valid")
                y = y + NOISE * rng.standard_normal(y.shape)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = api.deconvolve(y, k, noise_level=NOISE, model=model)
                mean_err = max(mean_err, abs(float(out.mean()) / float(y.mean()) - 1))
                gain = min(gain, psnr(out, x, 16) - psnr(y, x, 16))
            ok = mean_err <= MEAN_TOLERANCE and gain > 0
            rows.append(
                {
                    "model": model.name,
                    "family": family,
                    "size": label,
                    "params": json.dumps(params),
                    "kernel_px": k.shape[0],
                    "extent_px": ext,
                    "mean_error": round(mean_err, 4),
                    "psnr_gain_db": round(float(gain), 2),
                    "passes": ok,
                }
            )
            print(
                model.name,
                family,
                label,
                f"extent {ext}",
                f"mean {mean_err:.3f}",
                f"gain {gain:+.2f}",
                "ok" if ok else "FAIL",
                flush=True,
            )
    return rows


def limit(rows: list[dict], families: list[str]) -> int:
    """Largest extent up to which every case of ``families`` passes."""
    own = [r for r in rows if r["family"] in families]
    failing = [r["extent_px"] for r in own if not r["passes"]]
    first_fail = min(failing, default=10**9)
    passing = [r["extent_px"] for r in own if r["passes"] and r["extent_px"] < first_fail]
    return max(passing, default=0)


def write_limit(model_dir: Path, lim: int, families: list[str]) -> None:
    """Record a measured limit in a model folder's ``config.json`` (``kernel_limit``)."""
    cfg_path = Path(model_dir) / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["kernel_limit"] = {
        "extent_px": int(lim),
        "families": families,
        "measured_by": "benchmarks/kernel_limits.py",
        "criterion": f"mean within {MEAN_TOLERANCE:.0%} and PSNR above the blurred input, {NOISE:.0%} noise",
    }
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["default", "fast", "microscopy"])
    ap.add_argument("--write", action="store_true", help="store each limit in the model's config.json")
    ap.add_argument("--csv", default=str(ROOT / "docs" / "data" / "kernel_limits.csv"))
    args = ap.parse_args(argv)
    images = natural_images()
    all_rows = []
    for name in args.models:
        mf = api.load_model(name)
        # Measure beyond the model's current limit: the same model without its recorded limit.
        unlimited = dataclasses.replace(
            mf, config={k: v for k, v in mf.config.items() if k != "kernel_limit"}
        )
        families = (mf.config.get("training") or {}).get("families") or ["gaussian", "disk", "motion"]
        families = list(families)  # the limit covers the families the model was trained on
        rows = measure(unlimited, images)
        lim = limit(rows, families)
        print(f"{name}: kernel limit {lim} px (99 % energy extent; families {families})", flush=True)
        all_rows += rows
        if args.write and mf.path is not None:
            write_limit(Path(mf.path), lim, families)
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(all_rows[0]))
        w.writeheader()
        w.writerows(all_rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
