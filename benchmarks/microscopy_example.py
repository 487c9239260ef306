"""Worked example on real microscopy data: napari-glra, Wiener and Richardson–Lucy side by side.

Data (read from ``../shared/data/microscopy``, never copied into the repository;
see its README):

- ``celegans2d/celegans.tif``: a 316² confocal (Airyscan) image of a C. elegans
  intestine, 0.0426 µm/px, with ``psf_gaussian_sigma1.5.tif``, the 13² Gaussian
  PSF (σ = 1.5 px) its authors use with it;
- ``bead3d/data.tif``: a 64³ widefield stack of a 2.5 µm bead (≈ 258 nm in xy,
  640 nm in z), in focus near z = 27, with its measured 64³ PSF ``kernel.tif``
  (centred at z = 32).  The 2D example restores ``data[27]`` with
  ``prepare_psf(kernel, plane=32, ...)``; the 3D figure compares napari-glra
  plane by plane (2D PSF) with a 3D Richardson–Lucy using the whole 3D PSF.

There is no ground truth: the figures show the images, crops and line profiles,
and the parameters used are printed, and written into ``docs/microscopy.md``
between its ``<!-- example-parameters -->`` markers (``--docs``).

Parameters of the classical methods are chosen without ground truth by the
discrepancy principle on the [0, 1] scale of the engine's intensity map: Wiener
(gradient prior) gets the largest balance, Richardson–Lucy the fewest
iterations (a multiple of 5, at most 200), whose re-blurred estimate leaves a residual RMS no larger than the
estimated noise level (``estimate_noise``, the value napari-glra uses too).
``--wiener-balance`` and ``--rl-iterations`` override them.

Run::

    python benchmarks/microscopy_example.py                 # model "microscopy", figures in docs/figures/
    python benchmarks/microscopy_example.py --model PATH --out /tmp/figs --no-docs

Exits with status 0 and a message when the data directory is absent, 2 when the
model cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "microscopy"
DOC = ROOT / "docs" / "microscopy.md"
MARK_BEGIN = "<!-- example-parameters: begin (written by benchmarks/microscopy_example.py) -->"
MARK_END = "<!-- example-parameters: end -->"

#: Celegans crop (rows, cols) and the row of the line profile (crosses the intestine's two walls).
CEL_CROP = (slice(130, 230), slice(110, 210))
CEL_PROFILE = (180, slice(110, 210))
#: Bead: plane, PSF plane, pixel sizes (µm) and reported optics.
BEAD_PLANE, BEAD_PSF_PLANE = 27, 32
BEAD_PX, BEAD_DZ = 0.258, 0.640
BEAD_OPTICS = {"na": 1.4, "n_immersion": 1.518, "wavelength": 0.53}
CEL_PX = 0.0426
RL_MAX = 200
RL_STEP = 5
RL_3D_ITERATIONS = 30


# --------------------------------------------------------------------------- helpers
def _reblur(x, k):
    """``k * x`` with the same size as ``x`` (reflect padding)."""
    import numpy as np
    from scipy.signal import fftconvolve

    p = k.shape[0] // 2
    return fftconvolve(np.pad(x, p, mode="reflect"), k, mode="valid")


def _residual_rms(x, y, k):
    import numpy as np

    p = k.shape[0]
    r = _reblur(x, k) - y
    return float(np.sqrt(np.mean(r[p:-p, p:-p] ** 2)))


def wiener_discrepancy(y01, k, sigma, balance=None):
    """Wiener (gradient prior) with the largest balance meeting the discrepancy principle."""
    import numpy as np

    from napari_glra.classical import wiener, wiener_sweep

    if balance is not None:
        return wiener(y01, k, balance), float(balance), _residual_rms(wiener(y01, k, balance), y01, k)
    balances = np.geomspace(1e-5, 1.0, 31)
    xs = wiener_sweep(y01, k, balances)
    res = np.array([_residual_rms(x, y01, k) for x in xs])
    ok = np.nonzero(res <= sigma)[0]
    i = int(ok[-1]) if ok.size else 0
    return xs[i], float(balances[i]), float(res[i])


def rl_discrepancy(y01, k, sigma, iterations=None):
    """Richardson–Lucy stopped at the first iteration meeting the discrepancy principle."""
    import numpy as np

    from napari_glra.classical import richardson_lucy_path

    its = [int(iterations)] if iterations is not None else list(range(RL_STEP, RL_MAX + 1, RL_STEP))
    xs = richardson_lucy_path(np.clip(y01, 0, None), k, its)
    if iterations is not None:
        return xs[0], its[0], _residual_rms(xs[0], y01, k)
    for it, x in zip(its, xs):
        r = _residual_rms(x, y01, k)
        if r <= sigma:
            return x, it, r
    return xs[-1], its[-1], _residual_rms(xs[-1], y01, k)


def richardson_lucy_3d(stack, psf, iterations):
    """Plain 3D Richardson–Lucy (FFT, reflect padding by half the PSF), positive data."""
    import numpy as np
    from scipy import fft as sfft

    psf = np.clip(psf, 0, None)
    psf = psf / psf.sum()
    pads = [(s // 2, s // 2) for s in psf.shape]
    y = np.clip(np.pad(stack, pads, mode="reflect"), 1e-6, None)
    shape = [sfft.next_fast_len(n, real=True) for n in y.shape]
    kp = np.zeros(shape)
    kp[tuple(slice(0, s) for s in psf.shape)] = psf
    kp = np.roll(kp, [-(s // 2) for s in psf.shape], axis=(0, 1, 2))
    K = sfft.rfftn(kp)
    yp = np.zeros(shape)
    yp[tuple(slice(0, n) for n in y.shape)] = y
    mask = np.zeros(shape)
    mask[tuple(slice(0, n) for n in y.shape)] = 1.0
    norm = np.maximum(sfft.irfftn(np.conj(K) * sfft.rfftn(mask), s=shape), 1e-6)
    x = np.full(shape, y.mean())
    for _ in range(iterations):
        reblur = sfft.irfftn(K * sfft.rfftn(x), s=shape)
        ratio = mask * yp / np.maximum(reblur, 1e-6)
        x = x * sfft.irfftn(np.conj(K) * sfft.rfftn(ratio), s=shape) / norm
        np.maximum(x, 1e-6, out=x)
    sl = tuple(slice(p[0], p[0] + n) for p, n in zip(pads, stack.shape))
    return x[sl]


def _imshow(ax, img, vmin, vmax, title):
    ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------- examples
def run_celegans(data_dir, model, device, out, args, log):
    import matplotlib.pyplot as plt
    import numpy as np
    import tifffile
    from matplotlib.patches import Rectangle

    from napari_glra.api import deconvolve, estimate_noise, prepare_psf
    from napari_glra.engine.intensity import fit_intensity_map

    img = tifffile.imread(data_dir / "celegans2d" / "celegans.tif").astype(np.float32)
    psf_raw = tifffile.imread(data_dir / "celegans2d" / "psf_gaussian_sigma1.5.tif")
    k = prepare_psf(psf_raw)
    imap = fit_intensity_map([img], img.dtype)
    y01 = imap.forward(img).astype(np.float64)
    sigma = estimate_noise(img)

    t = time.perf_counter()
    glra, info = deconvolve(img, k, model=model, device=device, return_info=True)
    t_glra = time.perf_counter() - t
    t = time.perf_counter()
    w01, balance, w_res = wiener_discrepancy(y01, k, sigma, args.wiener_balance)
    t_w = time.perf_counter() - t
    t = time.perf_counter()
    r01, its, r_res = rl_discrepancy(y01, k, sigma, args.rl_iterations)
    t_rl = time.perf_counter() - t
    wien = imap.inverse(w01.astype(np.float32))
    rl = imap.inverse(r01.astype(np.float32))

    params = {
        "image": "celegans2d/celegans.tif, 316x316 float32, 0.0426 µm/px (confocal Airyscan)",
        "psf": f"psf_gaussian_sigma1.5.tif through prepare_psf(): {k.shape[0]}x{k.shape[1]} px",
        "intensity_map": {"offset": round(imap.offset, 2), "scale": round(imap.scale, 2)},
        "noise_level": round(float(info["noise_level"]), 5),
        "glra": {
            "model": info["model"],
            "model_version": info.get("model_version"),
            "noise_level": "estimated",
            "kernel_fit_error": round(float(info["kernel_fit_error"]), 4),
            "seconds": round(t_glra, 2),
            "device": info["device"],
        },
        "wiener": {
            "prior": "gradient",
            "balance": balance,
            "residual_rms": round(w_res, 5),
            "seconds": round(t_w, 2),
        },
        "richardson_lucy": {"iterations": its, "residual_rms": round(r_res, 5), "seconds": round(t_rl, 2)},
    }
    log("celegans", params)

    results = [
        ("input", img),
        (f"napari-glra ({info['model']})", glra),
        (f"Wiener (balance {balance:.2g})", wien),
        (f"Richardson–Lucy ({its} it.)", rl),
    ]
    vmin, vmax = np.percentile(img, [0.5, 99.8])
    cvmax = max(float(np.percentile(r[CEL_CROP], 99.8)) for _, r in results)
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.8), constrained_layout=True)
    (r0, r1), (c0, c1) = (CEL_CROP[0].start, CEL_CROP[0].stop), (CEL_CROP[1].start, CEL_CROP[1].stop)
    for j, (name, r) in enumerate(results):
        _imshow(axes[0, j], r, vmin, vmax, name)
        axes[0, j].add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, ec="yellow", lw=1))
        _imshow(axes[1, j], r[CEL_CROP], vmin, cvmax, f"crop {r1 - r0}x{c1 - c0} px")
        row, cols = CEL_PROFILE
        axes[1, j].plot([cols.start - c0, cols.stop - 1 - c0], [row - r0] * 2, color="cyan", lw=0.8, ls="--")
        axes[1, j].set_xlim(-0.5, c1 - c0 - 0.5)
        axes[1, j].set_ylim(r1 - r0 - 0.5, -0.5)
    fig.suptitle(
        "C. elegans (confocal, 0.0426 µm/px), Gaussian PSF σ = 1.5 px, no ground truth; "
        f"estimated noise {100 * params['noise_level']:.2g} % of the range",
        fontsize=10,
    )
    fig.savefig(out / "microscopy_celegans.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.5, 3.4), constrained_layout=True)
    row, cols = CEL_PROFILE
    xs = np.arange(cols.start, cols.stop) * CEL_PX
    for (name, r), style in zip(results, ["k-", "C3-", "C0--", "C2-."]):
        ax.plot(xs, r[row, cols], style, lw=1.2, label=name)
    ax.set_xlabel(f"x (µm), row {row}")
    ax.set_ylabel("intensity (input scale)")
    ax.set_title("Line profile across the intestine (dashed line in the crops)", fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(out / "microscopy_celegans_profile.png", dpi=110)
    plt.close(fig)
    return params


def run_bead(data_dir, model, device, out, args, log):
    import warnings

    import matplotlib.pyplot as plt
    import numpy as np
    import tifffile
    from matplotlib.colors import PowerNorm

    from napari_glra.api import deconvolve, estimate_noise, prepare_psf
    from napari_glra.engine.intensity import fit_intensity_map
    from napari_glra.physics.optics import defocus_psf, radial_profile
    from napari_glra.physics.psf import estimate_background

    stack = tifffile.imread(data_dir / "bead3d" / "data.tif").astype(np.float32)
    psf3d = tifffile.imread(data_dir / "bead3d" / "kernel.tif").astype(np.float64)
    img = stack[BEAD_PLANE]
    # The measured PSF: one plane of the bead stack, background removed, resampled (here the PSF and
    # the image share their sampling, so it is a no-op), centred, cropped to 99 % of its energy.
    psf_kwargs = {
        "plane": BEAD_PSF_PLANE,
        "background": "auto",
        "psf_pixel_size": BEAD_PX,
        "image_pixel_size": BEAD_PX,
        "crop_energy": 0.99,
    }
    k = prepare_psf(psf3d, **psf_kwargs)
    imap = fit_intensity_map([img], img.dtype)
    y01 = imap.forward(img).astype(np.float64)
    sigma = estimate_noise(img)

    t = time.perf_counter()
    glra, info = deconvolve(img, k, model=model, device=device, return_info=True)
    t_glra = time.perf_counter() - t
    w01, balance, w_res = wiener_discrepancy(y01, k, sigma, args.wiener_balance)
    r01, its, r_res = rl_discrepancy(y01, k, sigma, args.rl_iterations)
    wien = imap.inverse(w01.astype(np.float32))
    rl = imap.inverse(r01.astype(np.float32))

    # 3D: napari-glra plane by plane with the 2D in-focus PSF vs 3D Richardson-Lucy with the 3D PSF.
    t = time.perf_counter()
    glra_stack = deconvolve(stack, k, model=model, device=device)
    t_glra3 = time.perf_counter() - t
    bg3 = float(np.median(psf3d[:, :4, :4]))
    t = time.perf_counter()
    smap = fit_intensity_map([p for p in stack], stack.dtype)
    rl3 = smap.inverse(
        richardson_lucy_3d(smap.forward(stack).astype(np.float64), psf3d - bg3, RL_3D_ITERATIONS).astype(
            np.float32
        )
    )
    t_rl3 = time.perf_counter() - t

    # The Born-Wolf model at these optics: 258 nm pixels are 2.7x coarser than Nyquist, so
    # make_kernel("defocus", ...) refuses them; allow_undersampled=True makes it for the comparison.
    nyq = BEAD_OPTICS["wavelength"] / (4 * BEAD_OPTICS["na"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bw = defocus_psf(pixel_size=BEAD_PX, size=k.shape[0], allow_undersampled=True, **BEAD_OPTICS)

    params = {
        "image": f"bead3d/data.tif plane z={BEAD_PLANE}, 64x64, ~{BEAD_PX * 1000:.0f} nm/px (widefield)",
        "psf": f"prepare_psf(kernel.tif, {', '.join(f'{a}={v!r}' for a, v in psf_kwargs.items())}): "
        f"{k.shape[0]}x{k.shape[1]} px",
        "intensity_map": {"offset": round(imap.offset, 2), "scale": round(imap.scale, 2)},
        "noise_level": round(float(info["noise_level"]), 5),
        "glra": {
            "model": info["model"],
            "noise_level": "estimated",
            "kernel_fit_error": round(float(info["kernel_fit_error"]), 4),
            "seconds": round(t_glra, 2),
            "stack_seconds_64_planes": round(t_glra3, 2),
        },
        "wiener": {"prior": "gradient", "balance": balance, "residual_rms": round(w_res, 5)},
        "richardson_lucy": {"iterations": its, "residual_rms": round(r_res, 5)},
        "richardson_lucy_3d": {
            "iterations": RL_3D_ITERATIONS,
            "psf": "kernel.tif (64^3, border median removed)",
            "seconds": round(t_rl3, 2),
        },
        "nyquist_pixel_um": round(nyq, 4),
    }
    log("bead", params)

    results = [
        ("input (z = 27)", img),
        (f"napari-glra ({info['model']})", glra),
        (f"Wiener (balance {balance:.2g})", wien),
        (f"Richardson–Lucy ({its} it.)", rl),
    ]
    vmin, vmax = float(img.min()), max(float(r.max()) for _, r in results)
    fig, axes = plt.subplots(
        1, 5, figsize=(15, 3.4), constrained_layout=True, gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.5]}
    )
    c = int(np.argmax(img.max(axis=1)))
    for j, (name, r) in enumerate(results):
        _imshow(axes[j], r, vmin, vmax, name)
        axes[j].axhline(c, color="cyan", lw=0.6, ls="--")
    xs = np.arange(img.shape[1]) * BEAD_PX
    for (name, r), style in zip(results, ["k-", "C3-", "C0--", "C2-."]):
        axes[4].plot(xs, r[c], style, lw=1.2, label=name)
    axes[4].axvspan(
        (img.shape[1] / 2 - 1.25 / BEAD_PX) * BEAD_PX,
        (img.shape[1] / 2 + 1.25 / BEAD_PX) * BEAD_PX,
        color="0.9",
        zorder=0,
        label="2.5 µm (bead size)",
    )
    axes[4].set_xlabel(f"x (µm), row {c}")
    axes[4].set_title("line profile", fontsize=9)
    axes[4].legend(fontsize=7)
    fig.suptitle("Widefield bead, plane 27 with the measured PSF (plane 32); no ground truth", fontsize=10)
    fig.savefig(out / "microscopy_bead.png", dpi=110)
    plt.close(fig)

    # xz sections through the bead centre
    yc = int(np.argmax(stack.max(axis=(0, 2))))
    secs = [
        ("input stack (xz)", stack[:, yc]),
        ("napari-glra per plane, 2D PSF", glra_stack[:, yc]),
        (f"3D Richardson–Lucy ({RL_3D_ITERATIONS} it.), 3D PSF", rl3[:, yc]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(11, 5.2), constrained_layout=True)
    for ax, (name, s) in zip(axes, secs):
        lo = float(np.percentile(s, 1))
        ax.imshow(
            s,
            cmap="gray",
            norm=PowerNorm(0.5, vmin=lo, vmax=float(s.max())),
            aspect=BEAD_DZ / BEAD_PX,
            interpolation="nearest",
        )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel("z")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"xz section at y = {yc} (z step {BEAD_DZ} µm, xy {BEAD_PX} µm; own contrast per panel, gamma 0.5)",
        fontsize=10,
    )
    fig.savefig(out / "microscopy_bead_xz.png", dpi=110)
    plt.close(fig)

    # the measured PSF against the Born-Wolf model at the same (undersampled) pixel size
    fig, ax = plt.subplots(figsize=(6.5, 3.4), constrained_layout=True)
    h = k.shape[0] // 2
    rr = np.arange(-h, h + 1) * BEAD_PX
    raw = np.clip(psf3d[BEAD_PSF_PLANE] - estimate_background(psf3d[BEAD_PSF_PLANE]), 0, None)
    raw /= raw.sum()
    py, px_ = np.unravel_index(int(np.argmax(raw)), raw.shape)
    ax.plot(rr, raw[py, px_ - h : px_ + h + 1], "C0^-", ms=3, lw=0.8, label="measured plane 32, raw row")
    ax.plot(rr, k[h], "ko-", ms=3, label="measured after prepare_psf, row")
    ax.plot(rr, k[:, h], "ks--", ms=3, mfc="none", label="measured after prepare_psf, column")
    ax.plot(rr, bw[h], "C3-", label="Born–Wolf, NA 1.4, 530 nm, pixel-integrated")
    fine = np.linspace(rr[0], rr[-1], 400)
    prof = radial_profile(fine, **BEAD_OPTICS)
    ax.plot(fine, prof * bw.max(), "C3:", lw=0.8, label="Born–Wolf point profile (scaled)")
    ax.set_xlabel("µm")
    ax.set_title(f"PSF at {BEAD_PX * 1000:.0f} nm/px (Nyquist: {nyq * 1000:.0f} nm)", fontsize=10)
    ax.legend(fontsize=7)
    fig.savefig(out / "microscopy_bead_psf.png", dpi=110)
    plt.close(fig)
    return params


def _params_markdown(all_params: dict) -> str:
    lines = [MARK_BEGIN, "", "| example | method | parameters |", "|---|---|---|"]
    for ex, p in all_params.items():
        g = p["glra"]
        lines.append(
            f"| {ex} | input | {p['image']}; PSF: {p['psf']}; intensity map offset "
            f"{p['intensity_map']['offset']:g}, scale {p['intensity_map']['scale']:g}; "
            f"estimated noise {p['noise_level']:.4g} (of the range) |"
        )
        lines.append(
            f"| {ex} | napari-glra | model `{g['model']}`, noise level estimated, kernel fit error "
            f"{100 * g['kernel_fit_error']:.2g} %, {g['seconds']:.2g} s (after a warm-up call) |"
        )
        w = p["wiener"]
        lines.append(
            f"| {ex} | Wiener | gradient prior, balance {w['balance']:.3g} (discrepancy principle) |"
        )
        r = p["richardson_lucy"]
        lines.append(f"| {ex} | Richardson–Lucy | {r['iterations']} iterations (discrepancy principle) |")
        if "richardson_lucy_3d" in p:
            r3 = p["richardson_lucy_3d"]
            lines.append(f"| {ex} | 3D Richardson–Lucy | {r3['iterations']} iterations, {r3['psf']} |")
    lines += ["", MARK_END]
    return "\n".join(lines)


def write_docs(all_params: dict, doc: Path = DOC) -> bool:
    """Replace the parameter block of ``docs/microscopy.md``; False when the markers are missing."""
    if not doc.is_file():
        return False
    text = doc.read_text(encoding="utf-8")
    i, j = text.find(MARK_BEGIN), text.find(MARK_END)
    if i < 0 or j < i:
        return False
    doc.write_text(text[:i] + _params_markdown(all_params) + text[j + len(MARK_END) :], encoding="utf-8")
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the microscopy data directory")
    ap.add_argument("--model", default="microscopy", help="model name or directory (default: 'microscopy')")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures", help="figure directory")
    ap.add_argument("--device", default="cpu", help="device for napari-glra (default cpu)")
    ap.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default 1)")
    ap.add_argument("--wiener-balance", type=float, default=None, help="fixed Wiener balance")
    ap.add_argument("--rl-iterations", type=int, default=None, help="fixed Richardson-Lucy iterations")
    ap.add_argument(
        "--docs",
        dest="docs",
        action="store_true",
        default=None,
        help="write the parameter table into docs/microscopy.md (default when --out is docs/figures)",
    )
    ap.add_argument("--no-docs", dest="docs", action="store_false")
    ap.add_argument("--only", choices=("celegans", "bead"), default=None, help="run one example")
    args = ap.parse_args(argv)

    data = args.data.resolve()
    if not (data / "celegans2d" / "celegans.tif").is_file() or not (data / "bead3d" / "data.tif").is_file():
        print(
            f"microscopy example skipped: the data directory {data} is absent or incomplete "
            "(expected celegans2d/celegans.tif and bead3d/data.tif; pass --data DIR)"
        )
        return 0

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import matplotlib

    matplotlib.use("Agg")
    import torch

    torch.set_num_threads(max(1, args.threads))
    from napari_glra.api import load_model

    try:
        model = load_model(args.model)
    except (ValueError, FileNotFoundError, OSError) as err:
        print(
            f"cannot load model {args.model!r}: {err}\nPass --model PATH (a model directory).",
            file=sys.stderr,
        )
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    # Warm-up (moves the model to the device, creates the convolution kernels): the times
    # reported below are those of a restoration, not of the first call in a process.
    import numpy as np

    from napari_glra.api import deconvolve, make_kernel

    deconvolve(
        np.full((64, 64), 0.5, np.float32),
        make_kernel("gaussian", sigma=1.5),
        model=model,
        device=args.device,
        noise_level=0.01,
    )

    def log(name, params):
        print(f"== {name}")
        print(json.dumps(params, indent=2, ensure_ascii=False))

    all_params = {}
    if args.only in (None, "celegans"):
        all_params["C. elegans"] = run_celegans(data, model, args.device, args.out, args, log)
    if args.only in (None, "bead"):
        all_params["bead"] = run_bead(data, model, args.device, args.out, args, log)
    print("figures:", ", ".join(sorted(p.name for p in args.out.glob("microscopy_*.png"))), "in", args.out)
    docs = args.docs if args.docs is not None else args.out.resolve() == (ROOT / "docs" / "figures").resolve()
    if docs and args.only is None:
        print("parameters written into", DOC if write_docs(all_params) else "(no markers found; not written)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
