"""Fit reg(sigma) = a * sigma**b of the gradient-prior pseudo-inverse on BSDS500 *train* crops.

Wiener restoration conj(K) Y / (|K|^2 + reg |grad|^2) on a mirror-padded, validly
blurred image, ×1.2 saturation; for each noise level pick the reg maximising
the mean PSNR over the three kernel families, then fit a power law.
Run: ``python benchmarks/tune_reg.py [--data ../shared/data/bsds500/train]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage import io

from napari_glra.glra.pseudo_inverse import gradient_power, psf2otf
from napari_glra.metrics import psnr
from napari_glra.physics.degrade import degrade
from napari_glra.physics.kernels import FAMILIES, sample_kernel


def wiener_mirror(y, k, reg):
    p = 2 * max(k.shape)
    yp = np.pad(y, p, mode="symmetric")
    K = psf2otf(k, yp.shape)
    X = np.conj(K) * np.fft.fft2(yp) / (np.abs(K) ** 2 + reg * gradient_power(yp.shape))
    return np.real(np.fft.ifft2(X))[p:-p, p:-p]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/bsds500/train")
    ap.add_argument("--images", type=int, default=6)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    files = sorted(Path(args.data).glob("*.jpg"))[: args.images]
    imgs = [io.imread(f, as_gray=True).astype(np.float64)[:200, :200] for f in files]
    sigmas = [0.005, 0.01, 0.02, 0.03, 0.05]
    regs = np.logspace(-5, 1, 31)
    best = []
    for s in sigmas:
        scores = np.zeros(len(regs))
        for fam in FAMILIES:
            fam_scores = np.zeros(len(regs))
            for x in imgs:
                k, _ = sample_kernel(fam, rng)
                y, xs = degrade(x, k, noise=s, seed=rng)
                fam_scores += [psnr(wiener_mirror(y, k, r), xs) for r in regs]
            print(f"  sigma={s:.3f} {fam}: best reg={regs[np.argmax(fam_scores)]:.2e}")
            scores += fam_scores
        best.append(regs[np.argmax(scores)])
        print(f"sigma={s:.3f} best reg={best[-1]:.2e}")
    b, loga = np.polyfit(np.log(sigmas), np.log(best), 1)
    print(f"REG_SCALE={np.exp(loga):.3g} REG_POWER={b:.3g}")


if __name__ == "__main__":
    main()
