"""Timings of the GLRA building blocks; prints a table.

- fitting a basis (d=151, m=50) on N random kernels (pseudo-inverses + GLRAM), N = 100, 300;
- computing ``M`` for one kernel (pseudo-inverse + ``Lᵀ k† R``);
- the deconvolution block ``(L M Rᵀ) * y`` (``GLRANet.linear``), direct spatial
  convolutions vs the exact FFT path, on 256² … 1024² (2048²: FFT only; the direct
  path would take ~4x its 1024² time and several GB for its 50-channel intermediates).

Run: ``python benchmarks/bench_glra.py [--threads 1] [--device cpu] [--quick]``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from napari_glra.glra.basis import fit_glram, glra_coefficients
from napari_glra.glra.network import GLRANet, NetConfig, macs_per_pixel
from napari_glra.glra.pseudo_inverse import pseudo_inverse
from napari_glra.physics.kernels import FAMILIES, make_kernel, sample_kernel


def timeit(fn, repeat: int = 3, sync=None) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        best = min(best, time.perf_counter() - t0)
    return best


def fit_basis(n: int, d: int, m: int, iters: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    mats = []
    for i in range(n):
        k, _ = sample_kernel(FAMILIES[i % len(FAMILIES)], rng)
        kd = pseudo_inverse(k, size=d, noise_level=0.01)
        mats.append((kd / np.linalg.norm(kd)).astype(np.float32))
    t1 = time.perf_counter()
    L, R, errors = fit_glram(np.stack(mats), m, iters=iters, tol=0)
    t2 = time.perf_counter()
    return L, R, t1 - t0, t2 - t1, errors[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--d", type=int, default=151)
    ap.add_argument("--m", type=int, default=50)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (for a smoke test)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    d, m = args.d, args.m
    print(
        f"# napari-glra benchmarks: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} thread(s), device {dev}; d={d}, m={m}"
    )

    print("\n## Basis fitting (pseudo-inverses of N kernels + GLRAM)")
    print(f"| N kernels | pseudo-inverses (s) | GLRAM {args.iters} iters (s) | total (s) | rel. error |")
    print("|---:|---:|---:|---:|---:|")
    L = R = None
    for n in (30, 60) if args.quick else (100, 300):
        L, R, t_pi, t_fit, err = fit_basis(n, d, m, args.iters)
        print(f"| {n} | {t_pi:.2f} | {t_fit:.2f} | {t_pi + t_fit:.2f} | {err:.4f} |")

    k = make_kernel("motion", length=17, seed=3)
    t_pi = timeit(lambda: pseudo_inverse(k, size=d, noise_level=0.01), repeat=5)
    kd = pseudo_inverse(k, size=d, noise_level=0.01)
    t_m = timeit(lambda: glra_coefficients(kd, (L, R)), repeat=5)
    print("\n## Coefficients of one kernel")
    total = 1e3 * (t_pi + t_m)
    print(f"pseudo-inverse {1e3 * t_pi:.1f} ms + M = Lᵀ k† R {1e3 * t_m:.2f} ms = {total:.1f} ms")

    cfg = NetConfig(d=d, m=m)
    net = GLRANet(cfg, L, R).to(dev).eval()
    M = torch.as_tensor(glra_coefficients(kd, (L, R)), dtype=torch.float32, device=dev)[None]
    macs = macs_per_pixel(cfg)
    print("\n## Deconvolution block (L M Rᵀ) * y, one image, float32")
    print(f"direct path: {2 * d * m + m * m:.0f} MAC/px of convolutions (+ mirror padding of {d // 2} px)")
    print(f"full network (for reference): {macs['direct'] / 1e3:.1f} kMAC/px direct")
    print("| size | direct (s) | FFT (s) | speed-up |")
    print("|---:|---:|---:|---:|")
    sizes = (128, 256) if args.quick else (256, 512, 1024, 2048)
    t_dir = None
    for s in sizes:
        y = torch.rand(1, 1, s, s, device=dev)
        with torch.inference_mode():
            net.linear(y, M)  # warm-up (FFT plans)
            t_fft = timeit(lambda y=y: net.linear(y, M), repeat=3 if s <= 1024 else 1, sync=sync)
            if s <= 1024:
                t_dir = timeit(lambda y=y: net.linear(y, M, path="direct"), repeat=1, sync=sync)
                print(f"| {s}² | {t_dir:.2f} | {t_fft:.3f} | {t_dir / t_fft:.0f}x |")
            else:
                est = f"~{4 * t_dir:.0f} (est., skipped)" if t_dir else "skipped"
                print(f"| {s}² | {est} | {t_fft:.3f} | |")


if __name__ == "__main__":
    main()
