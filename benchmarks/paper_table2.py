"""Reproduce Table 2 of Ren et al. (NeurIPS 2018) on the authors' own test set.

The authors' repository (https://github.com/rwenqi/NBD-GLRA) ships the 100 test images of
their Table 2 in ``bsd100gaublur1.2saturatednoise1``: for each BSDS500 ``val`` image a
triple ``<id>_batch.png`` (observation, 8-bit RGB), ``<id>_gt.png`` (sharp image) and
``<id>_kernel.png`` (23x23 Gaussian kernel stored as an 8-bit image, peak 255).  This
script scores napari-glra and tuned classical baselines on them with the authors'
protocol and puts the paper's numbers beside.

Protocol, read from the authors' MATLAB code and measured on their files (the generator
itself is not in the repository):

- **Scoring** (``demo_testpsnr.m``, ``V5_showresults.m``): every colour channel is restored
  on its own; without padding (``pad = 0``, the default of ``demo_test.m``) the network's
  151-tap separable layers shrink the output by 150 px, and the ground truth is cropped to
  the output's centre, i.e. **75 px off each side**; PSNR with peak 1 over the three
  channels together (MATLAB ``psnr`` on doubles), SSIM with MATLAB's ``ssim`` (Gaussian
  window sigma 1.5, on the RGB array as a 3-D volume).  The kernel PNG is read with
  ``im2double`` and divided by its sum.
- **Degradation** (fitted to the 100 triples; the residual is white and identical on every
  image): circular blur of each channel by the kernel, multiplication by a per-image gain
  ``a`` spread over [1.0, 1.2] (the "x1.2 saturation"; the ground truth is *not* scaled),
  clipping to [0, 1], additive noise ``0.01 * U(0, 1)`` (uniform: MATLAB ``rand``, std
  0.29 % and mean +0.5 %, not 1 % Gaussian), 8-bit rounding.  Kernel sigmas 1.16-5.97 px.

The classical baselines (Wiener, Richardson-Lucy, TV, each with the valid data term of the
project's ``tv_valid`` baseline: a circular blur is the valid blur of the periodically
extended image, so that model is exact here) get one global parameter each, tuned on
BSDS500 *train* images degraded with the protocol above (mean PSNR on the central region);
the authors' images are used for scoring only.

Run ``python benchmarks/paper_table2.py`` (15-30 minutes on 2 cores, most of it
Richardson-Lucy's 300 iterations per channel; ``--quick``: 5 images, 4 tuning images).
Writes ``docs/data/paper_table2.csv`` (per image and method),
``docs/data/paper_table2_summary.json`` and the section "Reproducing the paper's Table 2"
of ``docs/benchmarks.md`` (between ``paper-table2`` marker comments), and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from glra_trainer.baselines import sweep
from napari_glra import api
from napari_glra.classical import (
    richardson_lucy,
    tv_deconv,
    wiener,
)
from napari_glra.metrics import psnr, ssim

ROOT = Path(__file__).resolve().parents[1]
#: Where the session's mirror of the authors' repository lives (a git directory without work tree).
DEFAULT_MIRROR = Path("/work/.mirror/rwenqi+NBD-GLRA/repo/.git")
SUBDIR = "bsd100gaublur1.2saturatednoise1"
DEFAULT_TRAIN = ROOT.parent / "shared" / "data" / "bsds500" / "train"

#: Pixels cropped off each side for the authors' "central region" (151-tap valid layers: 150 / 2).
CROP = 75
#: The crop named in the issue (measured there: 21.89 dB for the default model); reported as a column.
ISSUE_CROP = 85
#: The protocol of the authors' files (see the module docstring).
KERNEL_SIZE = 23
SIGMA_RANGE = (1.15, 6.0)
GAIN_RANGE = (1.0, 1.2)
UNIFORM_NOISE = 0.01
#: The nominal noise level (the folder's "noise1") and the actual std (uniform noise + 8-bit rounding).
NOMINAL_NOISE = 0.01
ACTUAL_NOISE_STD = float(np.sqrt(UNIFORM_NOISE**2 / 12 + (1 / 255) ** 2 / 12))

#: Table 2 of the paper, the gaussian-blur, saturated, noisy BSD100 column, as quoted in the issue
#: ("the paper's NBD-GLRA 23.21 (Table 2; IRCNN 22.37, HL 21.88)"); PSNR in dB on the central region.
PAPER_TABLE2 = {
    "NBD-GLRA (paper)": 23.21,
    "IRCNN (paper)": 22.37,
    "HL (paper)": 21.88,
}
PAPER_NOTE = "quoted from the issue, not re-read from the paper's PDF; PSNR only (the issue gives no SSIM)"

#: Classical methods: name -> (parameter, grid).  Valid data term for all three (see the docstring).
#: The noise is low (0.3 %), so the optima sit at small weights.  Richardson-Lucy is capped at 300
#: iterations for run time (each costs two FFTs per channel): on this protocol its PSNR still rises
#: slowly beyond (about +0.25 dB at 1200 iterations on 4 tuning images).
GRIDS: dict[str, tuple[str, list[float]]] = {
    "wiener": ("balance", [float(v) for v in np.logspace(-5, -2, 13)]),
    "rl": ("iterations", [10, 20, 30, 50, 80, 120, 160, 200, 250, 300]),
    "tv": ("lam", [float(v) for v in np.logspace(-6, -3, 13)]),
}
BOUNDARY = "valid"

#: Global output scales tried per method (see :func:`tune_scales`): the authors' files brighten the
#: observation by a gain in [1.0, 1.2] and leave the ground truth unscaled, so a restoration of the
#: observation is too bright by that gain; a method that knows the protocol can divide it out.
SCALE_GRID: list[float] = [round(float(v), 2) for v in np.arange(0.80, 1.0001, 0.01)]

#: Methods scored on the authors' images, in table order: key -> label.
LABELS = {
    "blurred": "Blurred input",
    "glra_default_est": "napari-glra `default`, noise estimated",
    "glra_default_nominal": "napari-glra `default`, noise 1 % (nominal)",
    "glra_fast_est": "napari-glra `fast`, noise estimated",
    "wiener": "Wiener, valid data term (tuned)",
    "rl": "Richardson-Lucy, valid data term (tuned)",
    "tv": "TV, valid data term (tuned)",
}
GLRA_RUNS = {
    "glra_default_est": ("default", None),
    "glra_default_nominal": ("default", NOMINAL_NOISE),
    "glra_fast_est": ("fast", None),
}

MARK_START = "<!-- paper-table2:start -->"
MARK_END = "<!-- paper-table2:end -->"
CSV_FIELDS = [
    "image",
    "method",
    "psnr_central",
    "ssim_central",
    "ssim_matlab_central",
    "psnr_whole",
    "ssim_whole",
    "psnr_central85",
    "psnr_central_scaled",
    "psnr_central_oracle",
    "noise_level",
    "seconds",
]


# --------------------------------------------------------------------------- data


def extract_from_mirror(git_dir: Path, dest: Path, subdir: str = SUBDIR) -> Path:
    """Write the PNGs of ``subdir`` at the mirror's HEAD into ``dest``; returns ``dest``."""
    names = subprocess.run(
        ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", "HEAD", "--", subdir],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    names = [n for n in names if n.endswith(".png")]
    if not names:
        raise FileNotFoundError(f"no {subdir}/*.png in {git_dir}")
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
        input="".join(f"HEAD:{n}\n" for n in names).encode(),
        check=True,
        capture_output=True,
    )
    out, pos = proc.stdout, 0
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        header_end = out.index(b"\n", pos)
        _sha, kind, size = out[pos:header_end].split()
        if kind != b"blob":
            raise ValueError(f"{n}: not a blob in {git_dir}")
        start, size = header_end + 1, int(size)
        (dest / Path(n).name).write_bytes(out[start : start + size])
        pos = start + size + 1
    return dest


def find_data(data: Path | None, mirror: Path, tmp: Path) -> tuple[Path, str]:
    """The folder holding the triples and a description of where it came from."""
    if data is not None:
        if not data.is_dir():
            raise SystemExit(f"--data {data}: no such folder")
        return data, str(data)
    if mirror.is_dir():
        return extract_from_mirror(mirror, tmp / SUBDIR), f"{mirror} (HEAD:{SUBDIR})"
    raise SystemExit(
        "The authors' test set was not found. Get it with\n"
        "    git clone https://github.com/rwenqi/NBD-GLRA\n"
        f"and pass --data NBD-GLRA/{SUBDIR}"
    )


def list_images(folder: Path) -> list[str]:
    """Sorted ids ``<id>`` with all three of ``<id>_batch.png``, ``_gt.png``, ``_kernel.png``."""
    ids = sorted(p.name[: -len("_batch.png")] for p in folder.glob("*_batch.png"))
    missing = [i for i in ids if not all((folder / f"{i}_{s}.png").is_file() for s in ("gt", "kernel"))]
    if missing:
        raise ValueError(f"incomplete triples in {folder}: {missing[:5]}")
    if not ids:
        raise ValueError(f"no *_batch.png in {folder}")
    return ids


def _read01(path: Path) -> np.ndarray:
    a = np.asarray(Image.open(path))
    if a.dtype != np.uint8:
        raise ValueError(f"{path}: expected an 8-bit image, got {a.dtype}")
    return a.astype(np.float64) / 255.0


def load_triple(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observation and ground truth (H, W, 3) on [0, 1], kernel normalised to sum 1 (as the authors)."""
    y, gt, k = (_read01(folder / f"{name}_{s}.png") for s in ("batch", "gt", "kernel"))
    if k.ndim == 3:
        k = k[..., 0]
    return y, gt, k / k.sum()


def kernel_png(k: np.ndarray) -> np.ndarray:
    """The kernel as the authors store it: scaled to peak 255, rounded to 8 bits."""
    return np.round(k / k.max() * 255).astype(np.uint8)


def circular_blur(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Circular convolution of each channel of ``x`` (H, W[, C]) by the centred kernel ``k``."""
    h, w = x.shape[:2]
    K = np.zeros((h, w))
    kh, kw = k.shape
    K[:kh, :kw] = k
    K = np.fft.rfft2(np.roll(K, (-(kh // 2), -(kw // 2)), (0, 1)))
    if x.ndim == 2:
        return np.fft.irfft2(np.fft.rfft2(x) * K, s=(h, w))
    return np.stack([np.fft.irfft2(np.fft.rfft2(x[..., c]) * K, s=(h, w)) for c in range(x.shape[2])], -1)


def authors_degrade(
    x: np.ndarray, sigma: float, gain: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Degrade a sharp image as the authors' files were made.

    Circular blur by a 23x23 Gaussian, gain, clipping, ``0.01 * U(0, 1)`` noise, 8-bit rounding.

    Returns
    -------
    tuple of numpy.ndarray
        The 8-bit observation (same shape as ``x``) and the kernel PNG (uint8, peak 255).
    """
    k = api.make_kernel("gaussian", sigma=float(sigma), size=KERNEL_SIZE)
    y = np.clip(gain * circular_blur(x, k), 0.0, 1.0) + UNIFORM_NOISE * rng.random(x.shape)
    return np.round(np.clip(y, 0.0, 1.0) * 255).astype(np.uint8), kernel_png(k)


def tuning_set(
    train: Path, n: int, seed: int = 0
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], list[dict[str, Any]]]:
    """``n`` BSDS500 train images degraded with :func:`authors_degrade`, one channel each.

    Channels are highly correlated, so each image contributes one colour channel (R, G, B in
    turn), which costs a third of the time of all three.

    Returns
    -------
    examples : list of (y, sharp, kernel)
        2D observation and unscaled sharp channel on [0, 1], kernel as the authors read it.
    meta : list of dict
        File, sigma, gain and channel of each example.
    """
    exts = {".jpg", ".jpeg", ".png"}
    files = sorted(p for p in Path(train).iterdir() if p.suffix.lower() in exts)
    if len(files) < n:
        raise ValueError(f"{train} has {len(files)} images, {n} needed")
    rng = np.random.default_rng(seed)
    files = [files[i] for i in sorted(rng.choice(len(files), size=n, replace=False))]
    examples, meta = [], []
    for i, f in enumerate(files):
        x = np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) / 255.0
        sigma = float(rng.uniform(*SIGMA_RANGE))
        gain = float(rng.uniform(*GAIN_RANGE))
        y8, k8 = authors_degrade(x, sigma, gain, rng)
        c = i % 3
        examples.append((y8[..., c] / 255.0, x[..., c], k8 / k8.sum()))
        meta.append({"file": f.name, "sigma": round(sigma, 3), "gain": round(gain, 4), "channel": "RGB"[c]})
    return examples, meta


# --------------------------------------------------------------------------- methods


def _central(a: np.ndarray, crop: int) -> np.ndarray:
    return a[crop:-crop, crop:-crop] if crop else a


def tune(
    examples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    crop: int = CROP,
    grids: dict[str, tuple[str, list[float]]] = GRIDS,
    log: Callable[[str], Any] = print,
) -> dict[str, dict[str, Any]]:
    """One global parameter per classical method: the grid value of best mean central PSNR."""
    tuned = {}
    for method, (name, values) in grids.items():
        t0 = time.perf_counter()
        curve = np.zeros(len(values))
        for y, x, k in examples:
            outs = sweep(f"{method}_{BOUNDARY}", y, k, values)
            curve += [psnr(_central(o, crop), _central(x, crop)) for o in outs]
        curve /= len(examples)
        b = int(np.argmax(curve))
        edge = b in (0, len(values) - 1)
        tuned[method] = {
            "param": name,
            "value": values[b],
            "tuning_psnr_central": round(float(curve[b]), 4),
            "grid": list(values),
            "psnr_curve": [round(float(v), 4) for v in curve],
            "grid_edge": edge,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        log(
            f"  tuned {method:6s} {name}={values[b]:.4g}{' (grid edge!)' if edge else ''} "
            f"PSNR={curve[b]:.2f} ({time.perf_counter() - t0:.0f} s)"
        )
    return tuned


def restore(method: str, y: np.ndarray, k: np.ndarray, tuned: dict[str, dict[str, Any]]) -> np.ndarray:
    """The output of one table row's method on ``y`` (2D or ``(H, W, C)``), clipped to [0, 1]."""
    if method == "blurred":
        return y
    if method in GLRA_RUNS:
        return run_glra(y, k, *GLRA_RUNS[method])[0]
    if y.ndim == 2:
        return run_classical(method, y[..., None], k, tuned[method]["value"])[..., 0]
    return run_classical(method, y, k, tuned[method]["value"])


def tune_scales(
    examples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    tuned: dict[str, dict[str, Any]],
    methods: Sequence[str],
    crop: int = CROP,
    log: Callable[[str], Any] = print,
) -> dict[str, dict[str, Any]]:
    """One global output scale per method: the :data:`SCALE_GRID` value of best mean central PSNR.

    Tuned on the tuning set (own images degraded with the authors' protocol), like the classical
    parameters: what a method trained or tuned on that protocol would learn about its gain.
    """
    scales = {}
    for m in methods:
        t0 = time.perf_counter()
        curve = np.zeros(len(SCALE_GRID))
        for y, x, k in examples:
            o, xc = _central(restore(m, y, k, tuned), crop), _central(x, crop)
            curve += [psnr(np.clip(c * o, 0.0, 1.0), xc) for c in SCALE_GRID]
        curve /= len(examples)
        b = int(np.argmax(curve))
        scales[m] = {
            "value": SCALE_GRID[b],
            "tuning_psnr_central": round(float(curve[b]), 4),
            "tuning_psnr_central_unscaled": round(float(curve[SCALE_GRID.index(1.0)]), 4),
            "grid_edge": b in (0, len(SCALE_GRID) - 1),
        }
        if log:
            log(
                f"  scale  {m:22s} x{SCALE_GRID[b]:.2f} PSNR={curve[b]:.2f} "
                f"({time.perf_counter() - t0:.0f} s)"
            )
    return scales


def oracle_scale(out: np.ndarray, gt: np.ndarray) -> float:
    """The least-squares scale ``a`` of ``out`` onto ``gt`` (per image: a diagnostic, not a method)."""
    den = float((out * out).sum())
    return float((out * gt).sum()) / den if den > 0 else 1.0


def add_models(specs: Sequence[str], error: Callable[[str], Any]) -> list[str]:
    """Register ``NAME=DIR`` model specs as extra rows; returns every row key in table order."""
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name.isidentifier() or not folder:
            error(f"--model must be NAME=DIR (NAME a short identifier), got {spec!r}")
        if not (Path(folder) / "config.json").is_file():
            error(f"--model {spec}: {folder} is not an exported model folder (no config.json)")
        key = f"glra_{name}_est"
        LABELS[key] = f"napari-glra `{name}` ({folder}), noise estimated"
        GLRA_RUNS[key] = (folder, None)
    return list(LABELS)


def run_classical(method: str, y: np.ndarray, k: np.ndarray, value: float) -> np.ndarray:
    """Restore each channel of ``y`` (H, W, C) with a classical method; clipped to [0, 1]."""
    outs = []
    for c in range(y.shape[2]):
        if method == "wiener":
            o = wiener(y[..., c], k, float(value), boundary=BOUNDARY)
        elif method == "rl":
            o = richardson_lucy(y[..., c], k, int(value), boundary=BOUNDARY)
        elif method == "tv":
            o = tv_deconv(y[..., c], k, float(value), boundary=BOUNDARY)
        else:
            raise ValueError(f"unknown classical method {method!r}")
        outs.append(o)
    return np.clip(np.stack(outs, -1), 0.0, 1.0)


def run_glra(y: np.ndarray, k: np.ndarray, model: str, noise: float | None) -> tuple[np.ndarray, float]:
    """napari-glra on an RGB image (channels restored on their own); clipped, and the noise level used."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KernelFitWarning etc.: the numbers say what happened
        out, info = api.deconvolve(y, k, noise_level=noise, model=model, return_info=True)
    return np.clip(np.asarray(out, np.float64), 0.0, 1.0), float(info["noise_level"])


# --------------------------------------------------------------------------- metrics


def ssim_matlab(x: np.ndarray, ref: np.ndarray) -> float:
    """MATLAB's ``ssim`` (the authors' ``ssim.m``) on [0, 1] images: Gaussian window sigma 1.5.

    An RGB array is one 3-D volume for MATLAB: the window is a 3-D Gaussian, with replicated
    borders on every axis (channels included).
    """
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)

    def f(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, 1.5, mode="nearest", truncate=5 / 1.5)

    c1, c2 = 0.01**2, 0.03**2
    mx, my = f(x), f(ref)
    sxx, syy, sxy = f(x * x) - mx * mx, f(ref * ref) - my * my, f(x * ref) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def scores(
    out: np.ndarray, gt: np.ndarray, crop: int = CROP, issue_crop: int = ISSUE_CROP
) -> dict[str, float]:
    """PSNR (peak 1, all channels) and SSIM on the central region and on the whole image.

    ``ssim_*`` is the project's SSIM (:func:`napari_glra.metrics.ssim`, 7x7 window) averaged over
    the channels; ``ssim_matlab_central`` the authors' (:func:`ssim_matlab`).
    """
    oc, gc = _central(out, crop), _central(gt, crop)
    res = {
        "psnr_central": psnr(oc, gc),
        "ssim_central": float(np.mean([ssim(oc[..., c], gc[..., c]) for c in range(gt.shape[2])])),
        "ssim_matlab_central": ssim_matlab(oc, gc),
        "psnr_whole": psnr(out, gt),
        "ssim_whole": float(np.mean([ssim(out[..., c], gt[..., c]) for c in range(gt.shape[2])])),
    }
    if min(gt.shape[:2]) > 2 * issue_crop:
        res["psnr_central85"] = psnr(_central(out, issue_crop), _central(gt, issue_crop))
    return res


# --------------------------------------------------------------------------- evaluation


def evaluate(
    folder: Path,
    names: Sequence[str],
    tuned: dict[str, dict[str, Any]],
    crop: int = CROP,
    methods: Sequence[str] = tuple(LABELS),
    log: Callable[[str], Any] = print,
    scales: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Score every method on every image; one row per image and method (see :data:`CSV_FIELDS`).

    ``psnr_central_scaled``: the output times the method's tuned global scale (``scales``, from
    :func:`tune_scales`); ``psnr_central_oracle``: times the best scale for this image.
    """
    rows = []
    for i, name in enumerate(names):
        y, gt, k = load_triple(folder, name)
        for m in methods:
            t0 = time.perf_counter()
            noise = ""
            if m == "blurred":
                out = y
            elif m in GLRA_RUNS:
                out, noise = run_glra(y, k, *GLRA_RUNS[m])
            else:
                out = run_classical(m, y, k, tuned[m]["value"])
            dt = time.perf_counter() - t0
            row = {"image": name, "method": m, **scores(out, gt, crop)}
            oc, gc = _central(out, crop), _central(gt, crop)
            if scales and m in scales:
                row["psnr_central_scaled"] = psnr(np.clip(scales[m]["value"] * oc, 0.0, 1.0), gc)
            row["psnr_central_oracle"] = psnr(np.clip(oracle_scale(oc, gc) * oc, 0.0, 1.0), gc)
            row = {f: (round(v, 5) if isinstance(v, float) else v) for f, v in row.items()}
            row["noise_level"] = round(noise, 6) if noise != "" else ""
            row["seconds"] = round(dt, 3)
            rows.append(row)
        if log and ((i + 1) % 10 == 0 or i + 1 == len(names)):
            log(f"  scored {i + 1}/{len(names)} images")
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean of every score per method (in :data:`LABELS` order)."""
    out: dict[str, dict[str, float]] = {}
    methods = [m for m in LABELS if any(r["method"] == m for r in rows)]
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        entry = {"label": LABELS[m], "n_images": len(mine)}
        for f in CSV_FIELDS[2:]:
            vals = [r[f] for r in mine if r.get(f, "") != ""]
            if vals:
                entry[f] = round(float(np.mean(vals)), 4)
        out[m] = entry
    return out


def markdown_table(summary: dict[str, dict[str, float]]) -> str:
    """Central and whole-image PSNR/SSIM per method, the paper's PSNR beside."""
    lines = [
        "| Method | PSNR central (dB) | SSIM central | SSIM central (MATLAB) "
        "| PSNR whole (dB) | SSIM whole | PSNR central, gain-matched (dB) | … per-image oracle (dB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in summary.values():
        scaled = f"{e['psnr_central_scaled']:.2f} (×{e['scale']:.2f})" if "psnr_central_scaled" in e else "–"
        oracle = f"{e['psnr_central_oracle']:.2f}" if "psnr_central_oracle" in e else "–"
        lines.append(
            f"| {e['label']} | {e['psnr_central']:.2f} | {e['ssim_central']:.4f} | "
            f"{e['ssim_matlab_central']:.4f} | {e['psnr_whole']:.2f} | {e['ssim_whole']:.4f} | "
            f"{scaled} | {oracle} |"
        )
    for label, v in PAPER_TABLE2.items():
        lines.append(f"| {label}\\* | {v:.2f} | – | – | – | – | – | – |")
    return "\n".join(lines)


def docs_section(result: dict[str, Any]) -> str:
    """The "Reproducing the paper's Table 2" section of ``docs/benchmarks.md``, markers included."""
    p = result["protocol"]
    tuned = result["tuned"]
    quick = " --quick" if result["quick"] else ""
    tuned_txt = ", ".join(
        f"{m} `{t['param']}` = {t['value']:.3g}{' (grid edge)' if t['grid_edge'] else ''}"
        for m, t in tuned.items()
    )
    warn = []
    if result["quick"]:
        warn = [
            '!!! warning "Quick run"',
            "    These numbers come from `paper_table2.py --quick` (few images): a smoke test, "
            "not the results.",
            "",
        ]
    return "\n".join(
        [
            MARK_START,
            "## Reproducing the paper's Table 2",
            "",
            *warn,
            f"napari-glra and tuned classical baselines on the authors' own test set, "
            f"`{SUBDIR}` of [rwenqi/NBD-GLRA](https://github.com/rwenqi/NBD-GLRA) "
            f"({result['n_images']} BSDS500 `val` images, used for scoring only), written by "
            f"`python benchmarks/paper_table2.py{quick}` on {result['date']} ({result['machine']}; "
            f"{result['seconds'] / 60:.1f} min). Raw numbers: "
            "[`data/paper_table2.csv`](data/paper_table2.csv), "
            "[`data/paper_table2_summary.json`](data/paper_table2_summary.json).",
            "",
            markdown_table(result["summary"]),
            "",
            f"\\* {PAPER_NOTE}.",
            "",
            "**Protocol** (read from the authors' MATLAB code and measured on their files; their "
            "generator is not published):",
            "",
            f'- *Scoring*: each RGB channel restored on its own; "central" = {p["crop"]} px off each '
            "side, the ground-truth crop of `V5_showresults.m` for the un-padded network (two "
            "151-tap valid layers); PSNR with peak 1 over the three channels together; SSIM = the "
            "project's (7×7 window, mean of the channels) and MATLAB's `ssim` on the RGB volume "
            "(Gaussian window σ 1.5, the authors' `ssim.m`). Outputs clipped to [0, 1]. "
            f"The issue's 85 px crop is the CSV's `psnr_central85`.",
            "- *Degradation* (fitted to the 100 triples): circular blur by a 23×23 Gaussian "
            f"(σ {p['sigma_range'][0]}–{p['sigma_range'][1]} px), a per-image gain in "
            f'[{p["gain_range"][0]}, {p["gain_range"][1]}] (the "×1.2 saturation") with clipping, the '
            "ground truth left unscaled, then uniform noise `0.01·U(0,1)` (MATLAB `rand`: std 0.29 %, "
            "mean +0.5 %, not 1 % Gaussian) and 8-bit rounding. The kernel PNG is the kernel scaled "
            "to peak 255; it is read and normalised to sum 1, as the authors do.",
            f"- *napari-glra*: `api.deconvolve` on the RGB image, noise estimated, or given as the "
            f"nominal 1 % (the actual std of noise and rounding is {p['actual_noise_std'] * 100:.2f} %).",
            f'- *Classical baselines*: valid data term (`boundary="valid"`, as the project\'s TV-valid '
            "baseline: a circular blur is the valid blur of the periodically extended image), one "
            f"global parameter each, tuned by mean central PSNR on {len(result['tuning_set'])} BSDS500 "
            f"*train* images degraded with the protocol above (one channel each): {tuned_txt}. "
            f"Richardson-Lucy is capped at {max(GRIDS['rl'][1])} iterations for run time (its PSNR "
            "still rises slowly beyond on this low-noise protocol).",
            "- *Gain-matched*: the protocol brightens the observation by the gain and scores against "
            "the unscaled ground truth, so every method that restores what it observes returns an image "
            "that is too bright by that gain (napari-glra is trained the other way: saturation scales "
            "the target too, as a brighter scene or a longer exposure does).  The gain-matched column "
            "multiplies each method's output by one global factor (× in brackets), tuned like the "
            "classical parameters on the tuning images (grid 0.80–1.00): what a method trained or tuned "
            "on this protocol would learn.  The oracle column takes the best factor per image (least "
            "squares against the ground truth): a ceiling, not a method.",
            "",
            "```bash",
            "python benchmarks/paper_table2.py            # authors' data from a local mirror, or:",
            f"git clone https://github.com/rwenqi/NBD-GLRA && python benchmarks/paper_table2.py "
            f"--data NBD-GLRA/{SUBDIR}",
            "python benchmarks/paper_table2.py --quick    # 5 images, 4 tuning images",
            "```",
            MARK_END,
        ]
    )


def write_docs_section(path: Path, section: str) -> None:
    """Replace the marked section of ``path`` (or append it at the end); the rest stays as it is."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    i, j = text.find(MARK_START), text.find(MARK_END)
    if i >= 0 and j > i:
        text = text[:i] + section + text[j + len(MARK_END) :]
    else:
        if text and not text.endswith("\n"):
            text += "\n"
        text += ("\n" if text else "") + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_outputs(docs: Path, rows: Sequence[dict[str, Any]], result: dict[str, Any]) -> None:
    """``docs/data/paper_table2.csv``, ``docs/data/paper_table2_summary.json`` and the docs section."""
    data = docs / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "paper_table2.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (data / "paper_table2_summary.json").write_text(json.dumps(result, indent=1) + "\n")
    write_docs_section(docs / "benchmarks.md", docs_section(result))


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help=f"folder with the authors' {SUBDIR} PNGs")
    ap.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="git dir of a mirror of NBD-GLRA")
    ap.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="tuning images (BSDS500 train)")
    ap.add_argument("--images", type=int, default=None, help="score the first N images (default: all)")
    ap.add_argument("--tune-images", type=int, default=24)
    ap.add_argument("--crop", type=int, default=CROP, help="pixels off each side for the central region")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="5 images, 4 tuning images")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs", help="writes data/ and benchmarks.md there")
    ap.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also score the model in DIR (an exported model folder), noise estimated, as row glra_NAME_est "
        "(repeatable; e.g. a training candidate)",
    )
    ap.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="METHOD",
        help=f"score only these rows (of {', '.join(LABELS)} and the --model rows); the classical "
        "baselines are tuned only when one of them is asked for",
    )
    cli = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(cli)
    methods = add_models(args.model, ap.error)
    if args.methods is not None:
        unknown = sorted(set(args.methods) - set(methods))
        if unknown:
            ap.error(f"--methods: unknown {unknown}; known: {', '.join(methods)}")
        methods = [m for m in methods if m in args.methods]
    if args.quick:
        args.images = min(args.images or 5, 5)
        args.tune_images = min(args.tune_images, 4)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="paper_table2_") as tmp:
        folder, source = find_data(args.data, args.mirror, Path(tmp))
        names = list_images(folder)[: args.images]
        print(f"tuning on {args.tune_images} images of {args.train} ...")
        examples, tmeta = tuning_set(args.train, args.tune_images, args.seed)
        tuned = tune(examples, args.crop, {m: g for m, g in GRIDS.items() if m in methods})
        print(f"scoring {len(names)} images of {source} ...")
        scales = tune_scales(examples, tuned, methods, args.crop)
        rows = evaluate(folder, names, tuned, args.crop, methods, scales=scales)
    summary = summarise(rows)
    for m, e in summary.items():
        if m in scales:
            e["scale"] = scales[m]["value"]
    import torch

    result = {
        "date": f"{datetime.now(timezone.utc):%Y-%m-%d}",
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "quick": bool(args.quick),
        "command": " ".join(["python benchmarks/paper_table2.py", *cli]),
        "data": source,
        "n_images": len(names),
        "protocol": {
            "crop": args.crop,
            "issue_crop": ISSUE_CROP,
            "kernel_size": KERNEL_SIZE,
            "sigma_range": list(SIGMA_RANGE),
            "gain_range": list(GAIN_RANGE),
            "noise": f"{UNIFORM_NOISE} * U(0, 1) after clipping, then 8-bit rounding",
            "nominal_noise": NOMINAL_NOISE,
            "actual_noise_std": round(ACTUAL_NOISE_STD, 6),
            "blur": "circular",
            "psnr": "peak 1, MSE over all three channels",
            "ssim": "project ssim (7x7) averaged over channels; ssim_matlab: MATLAB ssim on the RGB volume",
            "classical_boundary": BOUNDARY,
        },
        "tuning_set": tmeta,
        "tuned": tuned,
        "scales": scales,
        "summary": summary,
        "paper_table2": {"psnr_central": PAPER_TABLE2, "note": PAPER_NOTE},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_outputs(args.docs, rows, result)
    print()
    print(markdown_table(summary))
    print(
        f"\nwrote {args.docs / 'data'}/paper_table2.csv, paper_table2_summary.json and the section of "
        f"{args.docs / 'benchmarks.md'} in {result['seconds'] / 60:.1f} min"
    )
    return result


if __name__ == "__main__":
    main()
