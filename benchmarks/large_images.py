"""Large images: peak memory at 4096²-16384² and one 8192² plane on a dask cluster of 1 vs 2 workers.

``memory``: each (size, budget) restores one uint16 plane in its own subprocess and records
the process's peak resident memory (``VmHWM``) above its baseline (after imports and after
the input exists), minus the result (a float32 plane: the user's output); that is the
engine's working memory, which should stay within the memory budget
(``NAPARI_GLRA_MEMORY_BUDGET``, default 1.5 GB on the CPU).

``cluster``: the same kind of plane, written to a zarr store in 1024² chunks, restored with
``da.from_zarr`` → ``api.deconvolve`` → ``to_zarr`` on a ``dask.distributed`` ``LocalCluster``
of 1 and of 2 single-threaded worker processes (never holding the plane in one process).

The test image: a natural image (scikit-image's astronaut, grey) blurred by a motion kernel
(valid) with 1 % noise, tiled (mirrored) to the size, as uint16 counts.

Usage::

    python benchmarks/large_images.py                      # both parts, CSVs in docs/data/
    python benchmarks/large_images.py --part memory --sizes 4096 8192
    python benchmarks/large_images.py --part gpu            # on a CUDA machine: docs/data/large_gpu.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUDGETS = {"default": None, "0.5GB": "0.5GB"}


def test_plane(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``size``² uint16 blurred, noisy plane and its kernel."""
    from skimage import data

    from napari_glra import api

    k = api.make_kernel("motion", length=15, seed=2)
    x = data.astronaut().mean(-1) / 255.0
    y, _ = api.degrade(x, k, noise=0.01, saturation=None, seed=0)
    tile = np.concatenate([y, y[::-1]], 0)
    tile = np.concatenate([tile, tile[:, ::-1]], 1)
    out = np.empty((size, size), np.uint16)
    for i in range(0, size, tile.shape[0]):
        for j in range(0, size, tile.shape[1]):
            part = tile[: min(tile.shape[0], size - i), : min(tile.shape[1], size - j)]
            out[i : i + part.shape[0], j : j + part.shape[1]] = np.clip(part * 3000 + 200, 0, 65535)
    return out, k


def _vm(key: str) -> int:
    """A ``/proc/self/status`` value in bytes (VmRSS, VmHWM)."""
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def one_memory_run(size: int) -> dict:
    """(In the subprocess.)  Restore one ``size``² plane; memory and time."""
    import torch

    from napari_glra import api

    img, k = test_plane(size)
    api.load_model("default")
    torch.zeros(1)
    _reset_peak()
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    out, info = api.deconvolve(img, k, noise_level=0.01, return_info=True)
    seconds = time.perf_counter() - t0
    peak = _vm("VmHWM")
    return {
        "size": size,
        "megapixels": size * size / 1e6,
        "seconds": seconds,
        "input_mb": img.nbytes / 1e6,
        "output_mb": out.nbytes / 1e6,
        "working_mb": (peak - base - out.nbytes) / 1e6,
        "tiles": info["tiles_per_plane"],
        "tile_size": info.get("tile_size"),
    }


def memory(sizes: list[int], csv_path: Path) -> list[dict]:
    rows = []
    for size in sizes:
        for name, budget in BUDGETS.items():
            env = dict(os.environ)
            env.pop("NAPARI_GLRA_MEMORY_BUDGET", None)
            if budget:
                env["NAPARI_GLRA_MEMORY_BUDGET"] = budget
            cmd = [sys.executable, __file__, "--one", str(size)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
            if proc.returncode:
                sys.stderr.write(proc.stderr[-3000:])
                raise SystemExit(f"memory run {size} ({name}) failed")
            row = {"budget": name, **json.loads(proc.stdout.strip().splitlines()[-1])}
            print(row, flush=True)
            rows.append(row)
    _write(csv_path, rows)
    return rows


def cluster(size: int, chunk: int, csv_path: Path) -> list[dict]:
    import dask.array as da
    import zarr
    from distributed import Client, LocalCluster

    from napari_glra import api

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        img, k = test_plane(size)
        z = zarr.open_array(
            f"{tmp}/in.zarr", mode="w", shape=img.shape, chunks=(chunk, chunk), dtype=img.dtype
        )
        z[:] = img
        del img
        for workers in (1, 2):
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as lc, Client(lc) as client:
                client.run(lambda: __import__("torch").set_num_threads(1))
                src = da.from_zarr(f"{tmp}/in.zarr")
                t0 = time.perf_counter()
                lazy = api.deconvolve(src, k, noise_level=0.01)
                lazy.to_zarr(f"{tmp}/out_{workers}.zarr", overwrite=True)
                seconds = time.perf_counter() - t0
            out = zarr.open_array(f"{tmp}/out_{workers}.zarr", mode="r")
            row = {
                "size": size,
                "chunk": chunk,
                "workers": workers,
                "seconds": seconds,
                "s_per_mp": seconds / (size * size / 1e6),
                "out_chunks": "x".join(map(str, out.chunks)),
            }
            print(row, flush=True)
            rows.append(row)
        a = zarr.open_array(f"{tmp}/out_1.zarr", mode="r")
        b = zarr.open_array(f"{tmp}/out_2.zarr", mode="r")
        diff = max(float(np.abs(a[i : i + chunk] - b[i : i + chunk]).max()) for i in range(0, size, chunk))
        for r in rows:
            r["max_diff_1_vs_2"] = diff
    _write(csv_path, rows)
    return rows


def gpu(csv_path: Path, repeats: int = 3) -> list[dict]:
    """Throughput on CUDA: a 64 x 1024² stack and one 8192² plane (targets: 50 and 20 MP/s)."""
    import torch

    from napari_glra import api

    if not torch.cuda.is_available():
        raise SystemExit("--part gpu needs a CUDA device")
    rows = []
    plane, k = test_plane(8192)
    stack = np.stack([plane[i * 1024 % 7168 : i * 1024 % 7168 + 1024, :1024] for i in range(64)])
    for name, img in (("stack 64x1024²", stack), ("plane 8192²", plane)):
        for model in ("default", "fast"):
            api.deconvolve(img[:1] if img.ndim == 3 else img[:1024, :1024], k, model=model, device="cuda")
            best = np.inf
            for _ in range(repeats):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                _, info = api.deconvolve(
                    img, k, model=model, device="cuda", noise_level=0.01, return_info=True
                )
                torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            mp = img.size / 1e6
            row = {
                "input": name,
                "model": model,
                "megapixels": mp,
                "seconds": best,
                "mp_per_s": mp / best,
                "planes_per_batch": info.get("planes_per_batch"),
                "tiles": info["tiles_per_plane"],
                "device": torch.cuda.get_device_name(),
            }
            print(row, flush=True)
            rows.append(row)
    _write(csv_path, rows)
    return rows


def _table(memory_rows: list[dict], cluster_rows: list[dict]) -> str:
    """The markdown tables of docs/large-images.md (from this script's CSVs)."""
    lines = [
        "| plane | budget | tiles | working memory (MB) | input (MB) | result (MB) | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in memory_rows:
        lines.append(
            f"| {int(r['size'])}² | {r['budget']} | {int(r['tiles'])} | {float(r['working_mb']):,.0f} | "
            f"{float(r['input_mb']):,.0f} | {float(r['output_mb']):,.0f} | {float(r['seconds']):.0f} |"
        )
    if cluster_rows:
        lines += [
            "",
            "| plane | zarr chunks | workers (1 thread each) | seconds | s/MP | result chunks "
            "| max difference 1 vs 2 |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in cluster_rows:
            lines.append(
                f"| {int(r['size'])}² | {int(r['chunk'])}² | {int(r['workers'])} | "
                f"{float(r['seconds']):.0f} | {float(r['s_per_mp']):.2f} | {r['out_chunks']} | "
                f"{float(r['max_diff_1_vs_2']):.1e} |"
            )
    return "\n".join(lines)


def update_docs(out: Path, page: Path) -> None:
    """Put the tables of the CSVs in ``out`` between the markers of ``page``."""
    read = lambda name: list(csv.DictReader(open(out / name))) if (out / name).is_file() else []  # noqa: E731
    text = page.read_text()
    start, end = "<!-- large-images:start -->", "<!-- large-images:end -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    table = _table(read("large_memory.csv"), read("large_cluster.csv"))
    page.write_text(f"{head}{start}\n{table}\n{end}{tail}")
    print(f"updated {page}")


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--part",
        choices=["memory", "cluster", "gpu", "all", "docs"],
        default="all",
        help="docs: only rewrite the page's tables from the CSVs",
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192, 16384])
    ap.add_argument("--cluster-size", type=int, default=8192)
    ap.add_argument("--chunk", type=int, default=2048)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "data")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs" / "large-images.md", help="page to update")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_memory_run(args.one)))
        return
    if args.part in ("memory", "all"):
        memory(args.sizes, args.out / "large_memory.csv")
    if args.part in ("cluster", "all"):
        cluster(args.cluster_size, args.chunk, args.out / "large_cluster.csv")
    if args.part == "gpu":
        gpu(args.out / "large_gpu.csv")
        return
    if args.docs and args.docs.is_file():
        update_docs(args.out, args.docs)


if __name__ == "__main__":
    main()
