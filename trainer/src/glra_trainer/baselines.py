"""Tuned classical baselines: Wiener, Richardson–Lucy and TV.

The GLRA model is only worth using if it beats these, each with its
parameter tuned per kernel family and noise level on a *validation* split
(never on the test images).  :func:`tune_baselines` grid-searches the
parameters on degraded validation crops (paper protocol: valid blur, ×1.2
saturation with clipping, Gaussian noise) maximising the mean PSNR;
:func:`run_baseline` applies a method with given parameters and
:func:`params_for` picks the tuned parameters for a family and noise level.

Run ``python -m glra_trainer.baselines --help`` for a command-line tuning
that writes the result as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from skimage import io

from napari_glra.classical import (
    richardson_lucy,
    richardson_lucy_path,
    tv_deconv,
    tv_sweep,
    wiener,
    wiener_sweep,
)
from napari_glra.metrics import psnr, ssim  # re-exported: the trainer's callers import them from here
from napari_glra.physics.degrade import degrade
from napari_glra.physics.kernels import FAMILIES, KERNEL_RANGES, sample_kernel

__all__ = [
    "METHODS",
    "DEFAULT_GRID",
    "psnr",
    "ssim",
    "run_baseline",
    "sweep",
    "tune_baselines",
    "params_for",
    "load_crops",
    "degrade_level",
    "noise_key",
    "NOISE_MODELS",
]

#: Baseline methods and the name of the parameter tuned for each.  The
#: ``*_valid`` variants fit the data on the observed pixels only
#: (``boundary="valid"`` in :mod:`napari_glra.classical`); the others
#: deconvolve the mirror-padded observation.
METHODS: dict[str, str] = {
    "wiener": "balance",
    "rl": "iterations",
    "tv": "lam",
    "wiener_valid": "balance",
    "rl_valid": "iterations",
    "tv_valid": "lam",
}

_RL_ITERATIONS = [1, 2, 3, 5, 10, 15, 20, 30, 50, 80, 120, 200, 300]

#: Default search grids (log grids for the continuous weights).  The upper ends reach the
#: strong regularisation low-light images need (10-30 photons: Wiener's best balance was at
#: the former edge 1, TV-valid's at 0.03); the steps are those of the earlier grids.
DEFAULT_GRID: dict[str, list[float]] = {
    "wiener": [float(v) for v in np.logspace(-4, 3, 29)],
    "rl": list(_RL_ITERATIONS),
    "tv": [float(v) for v in np.logspace(-4, 0, 17)],
    "wiener_valid": [float(v) for v in np.logspace(-4, 3, 29)],
    "rl_valid": list(_RL_ITERATIONS),
    "tv_valid": [float(v) for v in np.logspace(-4.5, 0, 19)],
}

#: Saturation factor of the paper's protocol.
SATURATION = 1.2

#: Noise models of the protocols: a noise level is a Gaussian standard deviation on the
#: [0, 1] scale (``"gaussian"``), or a peak photon count, photons at intensity 1, with
#: Gaussian read noise of ``read_noise`` photons on top (``"poisson_gaussian"``).
NOISE_MODELS = ("gaussian", "poisson_gaussian")

#: Every family a kernel can be sampled from, in a fixed order (seeds use the index).
_ALL_FAMILIES = list(KERNEL_RANGES)


# --------------------------------------------------------------------------- methods


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; choose one of {sorted(METHODS)}")
    return method


def _split(method: str) -> tuple[str, str]:
    """``"tv_valid"`` -> ``("tv", "valid")``, ``"tv"`` -> ``("tv", "mirror")``."""
    base, _, boundary = method.partition("_")
    return base, boundary or "mirror"


def run_baseline(
    method: str,
    y: np.ndarray,
    k: np.ndarray,
    params: Mapping[str, Any],
    clip: bool = True,
) -> np.ndarray:
    """Restore ``y`` with a classical method.

    Parameters
    ----------
    method : str
        A key of :data:`METHODS`: ``"wiener"`` (``balance``, optional
        ``prior``), ``"rl"`` (Richardson–Lucy, ``iterations``) or ``"tv"``
        (``lam`` and optional solver settings of
        :func:`napari_glra.classical.tv_deconv`), each on the mirror-padded
        image, or the same with ``"_valid"`` (``boundary="valid"``).
    y : numpy.ndarray
        Observed 2D image on the [0, 1] scale.
    k : numpy.ndarray
        Blur kernel.
    params : mapping
        Keyword arguments of the method, e.g. ``{"balance": 3e-3}``.
    clip : bool
        Clip the result to [0, 1] (what the metrics use).

    Returns
    -------
    numpy.ndarray
        Restored image, same shape as ``y``.
    """
    _check_method(method)
    params = dict(params)
    if METHODS[method] not in params:
        raise ValueError(f"{method} needs the parameter {METHODS[method]!r}, got {params}")
    base, boundary = _split(method)
    params.setdefault("boundary", boundary)
    if base == "wiener":
        out = wiener(y, k, **params)
    elif base == "rl":
        params["iterations"] = int(params["iterations"])
        out = richardson_lucy(y, k, **params)
    else:
        out = tv_deconv(y, k, **params)
    return np.clip(out, 0.0, 1.0) if clip else out


def sweep(method: str, y: np.ndarray, k: np.ndarray, values: Sequence[float]) -> np.ndarray:
    """All grid values of one method (``"tv"``, ``"tv_valid"``, ...) on one example, clipped to [0, 1]."""
    base, boundary = _split(method)
    if base == "wiener":
        out = wiener_sweep(y, k, values, boundary=boundary)
    elif base == "rl":
        out = richardson_lucy_path(y, k, [int(v) for v in values], boundary=boundary)
    else:
        out = tv_sweep(y, k, values, boundary=boundary)
    return np.clip(out, 0.0, 1.0)


# --------------------------------------------------------------------------- data


def degrade_level(
    x: np.ndarray,
    k: np.ndarray,
    level: float,
    rng: np.random.Generator,
    noise_model: str = "gaussian",
    read_noise: float = 2.0,
    saturation: float | None = SATURATION,
) -> tuple[np.ndarray, np.ndarray]:
    """Valid blur, saturation and the noise of one protocol level (see :data:`NOISE_MODELS`).

    Parameters
    ----------
    x : numpy.ndarray
        Sharp image on the [0, 1] scale.
    k : numpy.ndarray
        Blur kernel.
    level : float
        Gaussian standard deviation, or peak photon count (``"poisson_gaussian"``).
    rng : numpy.random.Generator
        Source of the noise.
    noise_model : {"gaussian", "poisson_gaussian"}
        How ``level`` is read.
    read_noise : float
        Read noise in photons (``"poisson_gaussian"`` only).
    saturation : float or None
        Saturation factor (``None`` or 1: none).

    Returns
    -------
    tuple of numpy.ndarray
        The observation and the matching (valid, saturated) sharp image.
    """
    if noise_model == "gaussian":
        return degrade(x, k, level, saturation=saturation, mode="valid", seed=rng)
    if noise_model != "poisson_gaussian":
        raise ValueError(f"unknown noise model {noise_model!r}; choose one of {NOISE_MODELS}")
    return degrade(x, k, read_noise / level, saturation=saturation, mode="valid", poisson=level, seed=rng)


def load_crops(
    folder: str | Path,
    n_images: int,
    size: int = 160,
    seed: int = 0,
    files: Sequence[str | Path] | None = None,
) -> list[np.ndarray]:
    """Load grey random crops of images in a folder.

    Parameters
    ----------
    folder : str or Path
        Folder with ``.jpg``/``.png``/``.tif`` images (ignored if ``files``).
    n_images : int
        Number of images (the first ``n_images`` in sorted order, or of
        ``files``).
    size : int
        Side of the square crop (images smaller than that are not cropped).
    seed : int
        Seed of the crop positions.
    files : sequence of path, optional
        Explicit image files (e.g. a held-out validation list).

    Returns
    -------
    list of numpy.ndarray
        Float64 grey crops on the [0, 1] scale.
    """
    if files is None:
        exts = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
        files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in exts)
    files = list(files)[: int(n_images)]
    if not files:
        raise ValueError(f"no images found in {folder}")
    rng = np.random.default_rng(seed)
    crops = []
    for f in files:
        img = io.imread(f, as_gray=True)
        img = np.asarray(img, dtype=np.float64)
        if img.max() > 1.0:  # integer grey files
            img = img / (255.0 if img.max() <= 255 else 65535.0)
        h, w = img.shape
        i = int(rng.integers(0, max(h - size, 0) + 1))
        j = int(rng.integers(0, max(w - size, 0) + 1))
        crops.append(np.ascontiguousarray(img[i : i + size, j : j + size]))
    return crops


def _examples(
    images: Sequence[np.ndarray],
    family: str,
    fam_index: int,
    noise: float,
    seed: int,
    noise_model: str = "gaussian",
    read_noise: float = 2.0,
    saturation: float | None = SATURATION,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Degraded (y, sharp, kernel) triples; kernels do not depend on the noise."""
    out = []
    for i, x in enumerate(images):
        k, _ = sample_kernel(family, np.random.default_rng([seed, fam_index, i]))
        noise_seed = [seed, fam_index, i, int(round(noise * 1e6))]
        y, sharp = degrade_level(
            x, k, noise, np.random.default_rng(noise_seed), noise_model, read_noise, saturation
        )
        out.append((y, sharp, k))
    return out


# --------------------------------------------------------------------------- tuning


def noise_key(noise: float) -> str:
    """``str(float(noise))``, e.g. ``"0.01"`` or ``"1000.0"``: the key of a noise level in results."""
    return str(float(noise))


def tune_baselines(
    images: Sequence[np.ndarray],
    families: Sequence[str] = FAMILIES,
    noise_levels: Sequence[float] = (0.01, 0.03),
    seed: int = 0,
    grid: Mapping[str, Sequence[float]] | None = None,
    log: Callable[[str], Any] | None = print,
    methods: Sequence[str] | None = None,
    noise_model: str = "gaussian",
    read_noise: float = 2.0,
    saturation: float | None = SATURATION,
) -> dict[str, Any]:
    """Grid-search each baseline's parameter per kernel family and noise level.

    For each family and noise level every image gets one random kernel of
    that family (the same kernel at every noise level) and is degraded with
    :func:`degrade_level` (valid blur, ×1.2 saturation, Gaussian noise by
    default; Poisson-Gaussian noise with ``noise_model="poisson_gaussian"``).
    Each method restores every example for every grid value (vectorised:
    one Wiener FFT pass, one RL run read at each iteration count, one
    batched TV solve); the value with the best mean
    PSNR (on the whole valid-sized output, clipped to [0, 1], against the
    sharp crop returned by ``degrade``) wins, and its mean SSIM is reported.

    Parameters
    ----------
    images : sequence of numpy.ndarray
        Validation images (2D, [0, 1]), preferably several times the largest kernel.
    families : sequence of str
        Kernel families (see :data:`napari_glra.physics.kernels.FAMILIES`).
    noise_levels : sequence of float
        Noise standard deviations (0.01 = 1 %), or peak photon counts
        (``noise_model="poisson_gaussian"``).
    seed : int
        Seed of kernels and noise.
    grid : mapping, optional
        Method -> grid values; methods left out are not tuned (default
        :data:`DEFAULT_GRID`).
    log : callable, optional
        Progress printer (``None`` for silence).
    methods : sequence of str, optional
        Tune only these methods (keys of :data:`METHODS`; grids from
        ``grid`` or :data:`DEFAULT_GRID`).
    noise_model : {"gaussian", "poisson_gaussian"}
        How the noise levels are read (see :data:`NOISE_MODELS`).
    read_noise : float
        Read noise in photons for ``"poisson_gaussian"``.
    saturation : float or None
        Saturation factor of the degradation (``None`` or 1: none).

    Returns
    -------
    dict
        JSON-serialisable, by family first::

            {"protocol": {...}, "grid": {method: [...]},
             "results": {family: {noise_key: {
                 "blurred": {"psnr", "ssim"},
                 "best_method": str,
                 method: {"params": {name: value}, "psnr", "ssim",
                          "psnr_curve": [...], "seconds"}}}},
             method: {family: {noise_key: <the same method entry>}}}

        with ``noise_key = str(float(noise))`` (e.g. ``"0.01"``); the
        method-first copies allow ``tuned[m][family][str(noise)]["params"]``.
        :func:`params_for` reads either.
    """
    say = log or (lambda _msg: None)
    if not images:
        raise ValueError("tune_baselines needs at least one image")
    images = [np.asarray(x, dtype=np.float64) for x in images]
    for x in images:
        if x.ndim != 2:
            raise ValueError(f"images must be 2D, got shape {x.shape}")
    for fam in families:
        if fam not in _ALL_FAMILIES:
            raise ValueError(f"unknown kernel family {fam!r}; choose one of {_ALL_FAMILIES}")
    if noise_model not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise_model!r}; choose one of {NOISE_MODELS}")
    noise_levels = [float(s) for s in noise_levels]
    if not noise_levels or any(not np.isfinite(s) or s < 0 for s in noise_levels):
        raise ValueError(f"noise levels must be finite and >= 0, got {noise_levels}")
    if noise_model == "poisson_gaussian" and min(noise_levels) <= 0:
        raise ValueError(f"peak photon counts must be > 0, got {noise_levels}")
    grid = {m: list(v) for m, v in (DEFAULT_GRID if grid is None else grid).items()}
    if methods is not None:
        methods = list(methods)
        if not methods:
            raise ValueError("methods is empty")
        for m in methods:
            _check_method(m)
        missing = [m for m in methods if m not in grid and m not in DEFAULT_GRID]
        if missing:
            raise ValueError(f"no grid for {missing}")
        grid = {m: grid[m] if m in grid else list(DEFAULT_GRID[m]) for m in methods}
    if not grid:
        raise ValueError("no method to tune")
    for m, values in grid.items():
        _check_method(m)
        if not values:
            raise ValueError(f"empty grid for {m}")
    grid = {m: [int(v) if METHODS[m] == "iterations" else float(v) for v in vals] for m, vals in grid.items()}

    results: dict[str, Any] = {}
    for fam in families:
        fam_index = _ALL_FAMILIES.index(fam)
        results[fam] = {}
        for noise in noise_levels:
            ex = _examples(images, fam, fam_index, noise, seed, noise_model, read_noise, saturation)
            entry: dict[str, Any] = {
                "blurred": {
                    "psnr": float(np.mean([psnr(np.clip(y, 0, 1), s) for y, s, _ in ex])),
                    "ssim": float(np.mean([ssim(np.clip(y, 0, 1), s) for y, s, _ in ex])),
                }
            }
            for method, values in grid.items():
                t0 = time.perf_counter()
                curve = np.zeros(len(values))
                best_outs: list[list[np.ndarray]] = []
                for y, s, k in ex:
                    outs = sweep(method, y, k, values)
                    curve += [psnr(o, s) for o in outs]
                    best_outs.append(outs)
                curve /= len(ex)
                b = int(np.argmax(curve))
                ssim_best = float(np.mean([ssim(outs[b], s) for outs, (_, s, _) in zip(best_outs, ex)]))
                dt = time.perf_counter() - t0
                entry[method] = {
                    "params": {METHODS[method]: values[b]},
                    "psnr": float(curve[b]),
                    "ssim": ssim_best,
                    "psnr_curve": [float(v) for v in curve],
                    "seconds": round(dt, 3),
                }
                edge = " (grid edge!)" if b in (0, len(values) - 1) and len(values) > 1 else ""
                level = f"{noise:.3f}" if noise_model == "gaussian" else f"{noise:g} photons"
                say(
                    f"{fam:9s} noise={level} {method:12s} "
                    f"{METHODS[method]}={values[b]:.4g}{edge} "
                    f"PSNR={curve[b]:.2f} SSIM={ssim_best:.4f} ({dt:.1f} s)"
                )
            entry["best_method"] = max(grid, key=lambda m: entry[m]["psnr"])
            results[fam][noise_key(noise)] = entry
    out: dict[str, Any] = {
        "protocol": {
            "mode": "valid",
            "saturation": saturation,
            "noise_model": noise_model,
            **({"read_noise": read_noise} if noise_model == "poisson_gaussian" else {}),
            "n_images": len(images),
            "image_shapes": sorted({f"{x.shape[0]}x{x.shape[1]}" for x in images}),
            "seed": int(seed),
            "metric": "mean PSNR over examples, outputs clipped to [0, 1], valid-sized region",
        },
        "grid": grid,
        "results": results,
    }
    for m in grid:
        out[m] = {fam: {key: e[m] for key, e in by_noise.items()} for fam, by_noise in results.items()}
    return out


def params_for(tuned: Mapping[str, Any], method: str, family: str, noise: float) -> dict:
    """Tuned parameters of a method for a family at the nearest tuned noise level.

    Parameters
    ----------
    tuned : mapping
        Output of :func:`tune_baselines` (or its JSON).
    method : str
        A key of :data:`METHODS`.
    family : str
        Kernel family.
    noise : float
        Noise level; the closest tuned level (in log scale) is used.

    Returns
    -------
    dict
        Keyword arguments for :func:`run_baseline`.
    """
    _check_method(method)
    if "results" in tuned:
        fams = tuned["results"]
    elif method in tuned:  # method-first layout only
        fams = {f: {key: {method: e} for key, e in d.items()} for f, d in tuned[method].items()}
    else:
        raise ValueError(f"method {method!r} was not tuned")
    if family not in fams:
        raise ValueError(f"family {family!r} was not tuned; tuned: {sorted(fams)}")
    levels = {float(key): key for key in fams[family]}
    target = max(float(noise), 1e-6)
    best = min(levels, key=lambda s: abs(np.log(max(s, 1e-6)) - np.log(target)))
    entry = fams[family][levels[best]]
    if method not in entry:
        raise ValueError(f"method {method!r} was not tuned")
    return dict(entry[method]["params"])


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> None:
    """Tune the baselines on validation crops and write the result as JSON."""
    ap = argparse.ArgumentParser(
        prog="python -m glra_trainer.baselines", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--data", default="../shared/data/bsds500/train", help="validation folder")
    ap.add_argument("--images", type=int, default=6, help="number of validation images")
    ap.add_argument("--skip", type=int, default=0, help="skip the first N sorted files")
    ap.add_argument("--size", type=int, default=160, help="crop side")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.03])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON output file")
    args = ap.parse_args(argv)
    exts = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
    files = sorted(p for p in Path(args.data).iterdir() if p.suffix.lower() in exts)
    files = files[args.skip : args.skip + args.images]
    images = load_crops(args.data, args.images, args.size, args.seed, files=files)
    t0 = time.perf_counter()
    res = tune_baselines(images, args.families, args.noise, args.seed, methods=args.methods)
    res["protocol"]["files"] = [p.name for p in files]
    res["protocol"]["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(res, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)


if __name__ == "__main__":
    main()
