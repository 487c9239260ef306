"""Inference scaling: seconds per megapixel and peak memory of napari-glra, Wiener and RL-30.

Each (method, device, size) runs in its own subprocess, so the peak resident
memory (``resource.getrusage(...).ru_maxrss``) is that of one restoration:

- ``glra``: :func:`napari_glra.api.deconvolve` (the full public path: intensity
  map, kernel preparation, tiling above the memory budget), on the CPU and on
  CUDA when present;
- ``wiener``: :func:`napari_glra.classical.wiener` (FFT, mirror padding), or
  scikit-image's ``wiener`` if the former is missing;
- ``rl30``: :func:`skimage.restoration.richardson_lucy`, 30 iterations.

The image is a blurred (motion kernel, 15 px), 1 %-noise 512² crop of
scikit-image's camera tiled to the size (float32; content does not change the
timings).  The model load and a warm-up call are excluded from the time and
reported separately.

Writes a CSV (default ``docs/figures/scaling.csv``), a log-log plot
(``docs/figures/scaling.png``: time and peak RSS against megapixels) and prints
a Markdown table for the README.

Run: ``python benchmarks/bench_inference.py [--big] [--model PATH|default|random]
[--threads N] [--sizes 512 1024 2048]``.  ``--model random`` times an untrained
network of the default architecture (timings only, while no model is shipped).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (512, 1024, 2048)
BIG = 4096
METHODS = ("glra", "wiener", "rl30")


# --------------------------------------------------------------------------- worker (one run per process)
def _peak_rss() -> int:
    """Peak resident set size of this process in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r if sys.platform == "darwin" else r * 1024)


def benchmark_image(size: int):
    """The ``size``² input (float32: camera, 15-px motion blur, 1 % noise, tiled) and its kernel."""
    import numpy as np
    from skimage import data

    from napari_glra.physics.degrade import degrade
    from napari_glra.physics.kernels import make_kernel

    k = make_kernel("motion", length=15, seed=3)
    x = data.camera().astype(np.float64) / 255.0
    y, _ = degrade(x[: 512 + k.shape[0] - 1, : 512 + k.shape[1] - 1], k, noise=0.01, seed=0)
    reps = -(-size // y.shape[0])
    img = np.tile(y.astype(np.float32), (reps, reps))[:size, :size]
    return np.ascontiguousarray(img), k


def _random_model_dir(tmp: str) -> str:
    """An untrained model of the default architecture (for timings while no model is shipped)."""
    from napari_glra.glra.basis import Basis
    from napari_glra.glra.model_io import save_model
    from napari_glra.glra.network import GLRANet, NetConfig

    cfg = NetConfig()
    net = GLRANet(cfg, seed=0)
    L = net.L.detach().double().numpy()
    R = net.R.detach().double().numpy()
    out = Path(tmp) / "random"
    save_model(out, net, Basis(L, R, {"prior": "gradient"}), name="random-untrained", version="0")
    return str(out)


def worker(args: argparse.Namespace) -> dict:
    import numpy as np

    img, k = benchmark_image(args.size)
    base_rss = _peak_rss()
    info: dict = {}
    if args.method == "glra":
        import torch

        from napari_glra import api

        if args.threads:
            torch.set_num_threads(args.threads)
        warnings.simplefilter("ignore", api.KernelFitWarning)  # e.g. --model random: timings only
        t0 = time.perf_counter()
        model = api.load_model(args.model)
        load_s = time.perf_counter() - t0
        # warm-up: moves the model to the device, initialises kernels and FFT plans
        api.deconvolve(img[:256, :256], k, model=model, device=args.device, noise_level=0.01)
        base_rss = _peak_rss()

        def fn():
            return api.deconvolve(img, k, model=model, device=args.device, noise_level=0.01, return_info=True)

        info = {"model": model.name, "model_version": model.version, "load_s": load_s}
    elif args.method == "wiener":
        try:
            from napari_glra.classical import wiener

            def fn():
                return wiener(img, k, balance=3e-3), {}
        except ImportError:  # pragma: no cover - before classical.py existed
            from skimage.restoration import wiener as sk_wiener

            def fn():
                return sk_wiener(img, k, balance=3e-3, clip=False), {}

    elif args.method == "rl30":
        from skimage.restoration import richardson_lucy

        def fn():
            return richardson_lucy(np.clip(img, 0, None), k.astype(np.float32), num_iter=30, clip=False), {}
    else:
        raise SystemExit(f"unknown method {args.method}")
    best = float("inf")
    extra: dict = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out, extra = fn()
        best = min(best, time.perf_counter() - t0)
        assert out.shape == img.shape
        del out
    mp = args.size * args.size / 1e6
    return {
        "method": args.method,
        "device": args.device if args.method == "glra" else "cpu",
        "size": args.size,
        "megapixels": mp,
        "seconds": best,
        "s_per_mp": best / mp,
        "peak_rss_mb": _peak_rss() / 1e6,
        "baseline_rss_mb": base_rss / 1e6,
        "tiles_per_plane": extra.get("tiles_per_plane", ""),
        **info,
    }


# --------------------------------------------------------------------------- driver
def run_one(method: str, size: int, device: str, args: argparse.Namespace, model: str) -> dict | None:
    env = dict(os.environ)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(args.threads)
    cmd = [sys.executable, __file__, "--worker", "--method", method, "--size", str(size), "--device", device]
    cmd += ["--model", model, "--repeats", str(args.repeats)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if proc.returncode != 0:
        print(f"  {method} {device} {size}²: FAILED\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    series = sorted({(r["method"], r["device"]) for r in rows})
    labels = {"glra": "napari-glra", "wiener": "Wiener (FFT)", "rl30": "Richardson-Lucy, 30 it."}
    for method, device in series:
        rs = sorted(
            (r for r in rows if (r["method"], r["device"]) == (method, device)), key=lambda r: r["size"]
        )
        mp = [r["megapixels"] for r in rs]
        label = labels.get(method, f"napari-glra, {method[5:]} model") + (
            f" ({device})" if method == "glra" else ""
        )
        a1.loglog(mp, [r["seconds"] for r in rs], "o-", label=label)
        a2.loglog(mp, [r["peak_rss_mb"] / 1e3 for r in rs], "o-", label=label)
    if rows:
        mps = sorted({r["megapixels"] for r in rows})
        ref = [r for r in rows if r["method"] == "glra"] or rows
        r0 = min(ref, key=lambda r: r["megapixels"])
        a1.loglog(
            mps, [r0["seconds"] * m / r0["megapixels"] for m in mps], "k:", lw=1, label="linear in pixels"
        )
        a2.axhline(4.0, color="r", ls=":", lw=1, label="4 GB target")
    a1.set_xlabel("megapixels")
    a1.set_ylabel("seconds")
    a1.set_title("run time")
    a2.set_xlabel("megapixels")
    a2.set_ylabel("peak RSS (GB)")
    a2.set_title("peak memory (whole process)")
    for a in (a1, a2):
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    by = {(r["method"], r["device"], r["size"]): r for r in rows}
    extras = sorted({r["method"] for r in rows if r["method"].startswith("glra-")})
    lines = [
        "| size | napari-glra s/MP | "
        + "".join(f"{e[5:]} model s/MP | " for e in extras)
        + "Wiener s/MP | RL-30 s/MP | glra / RL-30 | "
        + "".join(f"{e[5:]} / RL-30 | " for e in extras)
        + "glra peak RSS |",
        "|---:|" + "---:|" * (5 + 2 * len(extras)),
    ]
    devices = sorted({r["device"] for r in rows if r["method"] == "glra"}) or ["cpu"]
    f = lambda r: f"{r['s_per_mp']:.2f}" if r else "–"  # noqa: E731
    for size in sorted({r["size"] for r in rows}):
        for dev in devices:
            g = by.get(("glra", dev, size))
            xs = [by.get((e, "cpu", size)) for e in extras]
            w = by.get(("wiener", "cpu", size))
            rl = by.get(("rl30", "cpu", size))
            ratio = lambda r, rl=rl: f"{r['s_per_mp'] / rl['s_per_mp']:.2f}×" if r and rl else "–"  # noqa: E731
            rss = f"{g['peak_rss_mb'] / 1e3:.2f} GB" if g else "–"
            name = f"{size}²" + (f" ({dev})" if len(devices) > 1 else "")
            cells = [f(g), *[f(x) for x in xs], f(w), f(rl), ratio(g), *[ratio(x) for x in xs], rss]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--big", action="store_true", help=f"also {BIG}² (minutes, several GB for RL/Wiener)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument(
        "--devices", nargs="+", default=None, help="glra devices (default: cpu, and cuda if present)"
    )
    ap.add_argument(
        "--model", default="default", help="model name, directory, or 'random' (untrained, timing only)"
    )
    ap.add_argument(
        "--also-models",
        nargs="*",
        default=[],
        help="more models timed on the CPU, in rows named glra-NAME (e.g. --also-models fast)",
    )
    ap.add_argument("--threads", type=int, default=None, help="threads for torch/BLAS/FFT (default: all)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--csv", type=Path, default=ROOT / "docs" / "figures" / "scaling.csv")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "figures" / "scaling.png")
    # worker mode
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(worker(args)))
        return

    import torch

    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    sizes = sorted(set(args.sizes + ([BIG] if args.big else [])))
    with tempfile.TemporaryDirectory() as tmp:
        model = _random_model_dir(tmp) if args.model == "random" else args.model
        if args.model != "random":
            from napari_glra import api

            api.load_model(model)  # fail early with the list of available models
            for extra in args.also_models:
                api.load_model(extra)
        rows = []
        for size in sizes:
            runs = []
            for method in args.methods:
                runs += [(method, dev, model) for dev in (devices if method == "glra" else ["cpu"])]
                if method == "glra":
                    runs += [(method, "cpu", extra) for extra in args.also_models]
            for method, dev, mod in runs:
                name = method if mod == model else f"glra-{Path(mod).name}"
                print(f"{name:7s} {dev:5s} {size}² ...", end=" ", flush=True)
                r = run_one(method, size, dev, args, mod)
                if r is None:
                    continue
                r["method"] = name
                rows.append(r)
                print(f"{r['seconds']:.2f} s, {r['s_per_mp']:.2f} s/MP, peak RSS {r['peak_rss_mb']:.0f} MB")
    if not rows:
        raise SystemExit("no benchmark succeeded")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with args.csv.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    plot(rows, args.plot)
    model_note = (
        "untrained network of the default architecture" if args.model == "random" else rows[0].get("model")
    )
    print(
        f"\nmodel: {model_note}; threads: {args.threads or 'all'} of {os.cpu_count()}; "
        f"torch {torch.__version__}"
    )
    print(table(rows))
    print(f"\nwrote {args.csv} and {args.plot}")


if __name__ == "__main__":
    main()
