"""Probe for issue #18: does a valid data-consistency step after the network raise PSNR?

After ``z = api.deconvolve(y, k)`` (the shipped ``default``), solve

    min_x  1/2 ||M (k * x) - y||^2 + lam/2 ||x - z||^2

with ``M`` the observed pixels (the valid data term of the TV-valid baseline; ADMM on
``v = k * x`` as in :func:`napari_glra.classical.wiener` with ``boundary="valid"``), for several
``lam``, on card-like samples: 8 BSDS500 test images, one 192 x 192 valid-blurred crop each per
family (kernels drawn from ``KERNEL_RANGES``, seed 0), Gaussian noise.  Prints the mean PSNR change
per family and ``lam``.  Needs ``../shared/data/bsds500``; about 1 minute on 2 CPU cores.

    python benchmarks/data_consistency_probe.py [--noise 0.01]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.signal import fftconvolve

from napari_glra import api
from napari_glra.classical import pad_for_fft
from napari_glra.glra.pseudo_inverse import psf2otf
from napari_glra.metrics import psnr
from napari_glra.physics.kernels import sample_kernel

ROOT = Path(__file__).resolve().parents[1]
LAMS = (0.3, 0.1, 0.03, 0.01, 0.003)


def data_consistency(
    y: np.ndarray, k: np.ndarray, z: np.ndarray, lams=LAMS, iterations: int = 40, mu: float = 0.01
) -> list[np.ndarray]:
    """The data-consistent refinement of ``z`` for each ``lam`` (same shape as ``y``)."""
    yp, crop = pad_for_fft(y, k.shape)
    zp, _ = pad_for_fft(z, k.shape)
    K = psf2otf(k, yp.shape)
    mask = np.zeros(yp.shape)
    mask[crop] = 1.0

    def blur(x: np.ndarray) -> np.ndarray:
        return np.real(np.fft.ifft2(K * np.fft.fft2(x)))

    Z = np.fft.fft2(zp)
    outs = []
    for lam in lams:
        v, u = blur(zp), np.zeros(yp.shape)
        for _ in range(iterations):
            X = (np.conj(K) * np.fft.fft2(v - u) + (lam / mu) * Z) / (np.abs(K) ** 2 + lam / mu)
            Kx = np.real(np.fft.ifft2(K * X))
            v = (mask * yp + mu * (Kx + u)) / (mask + mu)
            u += Kx - v
        outs.append(np.real(np.fft.ifft2(X))[crop])
    return outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "bsds500" / "test")
    args = ap.parse_args()
    files = sorted(args.data.glob("*.jpg"))[:8]
    if not files:
        raise SystemExit(f"no BSDS500 test images in {args.data}")
    rng = np.random.default_rng(0)
    for fam in ("gaussian", "disk", "motion"):
        rows = []
        for f in files:
            x = np.asarray(Image.open(f).convert("L"), np.float64) / 255
            k = sample_kernel(fam, rng)[0]
            k = k / k.sum()
            s = 192 + k.shape[0] - 1
            i, j = rng.integers(0, x.shape[0] - s), rng.integers(0, x.shape[1] - s)
            scene = x[i : i + s, j : j + s]
            y = fftconvolve(scene, k, mode="valid") + args.noise * rng.standard_normal((192, 192))
            h = k.shape[0] // 2
            gt = scene[h : h + 192, h : h + 192]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                z = np.asarray(api.deconvolve(y, k, noise_level=args.noise, model="default"), np.float64)
            outs = data_consistency(y, k, z)
            rows.append([psnr(np.clip(z, 0, 1), gt)] + [psnr(np.clip(o, 0, 1), gt) for o in outs])
        r = np.array(rows)
        gains = " ".join(f"lam {lam}: {d:+.3f}" for lam, d in zip(LAMS, r[:, 1:].mean(0) - r[:, 0].mean()))
        print(f"{fam:8s} network {r[:, 0].mean():.2f} dB; change: {gains}", flush=True)


if __name__ == "__main__":
    main()
