"""napari-glra benchmark suite: the paper's protocol, figures, and ``docs/benchmarks.md``.

What ``make bench`` runs.  Every number and figure of the benchmarks page comes from here:

``protocol``
    PSNR/SSIM per kernel family (Gaussian, disk, motion) x noise level (1, 2, 3 %) x method on a
    fixed, seeded subset of crops of ``--eval-dir`` (default ``../shared/data/bsds500/test``).  The
    table of the model, the GLRA linear block and the tuned Wiener / Richardson-Lucy / TV is
    :func:`glra_trainer.evaluate.run_evaluate` (the protocol of the model card: valid blur, x1.2
    saturation with clipping, Gaussian noise, metrics on the valid region, classical parameters
    tuned per family and noise level on ``--tune-dir``).  This script replays the *same* degraded
    inputs (same seeds; checked against the evaluation's blurred-input PSNR) and adds:
    napari-glra with the noise level *estimated* (``napari_glra.api.deconvolve(noise_level=None)``),
    scikit-image's parameter-free unsupervised Wiener-Hunt, and kernels *outside* the training
    ranges.
``grid``
    A visual comparison per family (one representative image, 1 % and 3 % noise, same contrast).
``basis``
    Held-out relative error of GLRA bases vs rank ``m`` per family, pictures of the model's basis
    vectors and of ``M`` for three kernels.
``scaling``
    Time per megapixel and peak memory: ``benchmarks/bench_inference.py`` run as a subprocess.

Outputs (``--docs``, default ``docs/``): ``benchmarks.md``, ``figures/grid_<family>.png``,
``figures/psnr_vs_noise.png``, ``figures/basis_rank.png``, ``figures/basis_vectors.png``,
``figures/basis_M.png``, ``figures/scaling.png`` and CSV/JSON under ``data/``.

Usage::

    python benchmarks/run_benchmarks.py [--model default|DIR] [--quick] [--eval-dir DIR]
        [--tune-dir DIR] [--docs DIR] [--device auto] [--sections protocol grid basis scaling]

Run time on the 2-core development CPU: full about 8 minutes, ``--quick`` under 2 minutes (the
page records the measured time of its own run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the suite's modules, when loaded from elsewhere

from suite_basis import run_basis  # noqa: E402
from suite_figures import make_grids, plot_psnr_vs_noise  # noqa: E402
from suite_io import fmt_time, log  # noqa: E402
from suite_markdown import write_markdown  # noqa: E402
from suite_protocol import run_protocol  # noqa: E402
from suite_scaling import run_scaling  # noqa: E402
from suite_settings import FULL, QUICK, ROOT, SECTIONS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    ap.add_argument(
        "--model", default="default", help="shipped model name or model directory (default: default)"
    )
    ap.add_argument("--quick", action="store_true", help="small, fast version (under 2 minutes)")
    ap.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "data" / "bsds500" / "test"))
    ap.add_argument(
        "--tune-dir",
        default=str(ROOT.parent / "shared" / "data" / "bsds500" / "train"),
        help="images the classical methods are tuned on (default: BSDS500 train)",
    )
    ap.add_argument(
        "--docs",
        type=Path,
        default=ROOT / "docs",
        help="docs folder: writes benchmarks.md, figures/ and data/ there",
    )
    ap.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    ap.add_argument(
        "--ablation-model",
        default=None,
        help="also evaluate this model directory as 'network, random init' "
        "(trained with glra-train fit --set random_init=true)",
    )
    ap.add_argument(
        "--tuned",
        type=Path,
        default=None,
        help="reuse the classical methods' tuned parameters of an earlier run with the same protocol "
        "(its data/evaluate/summary.json) instead of tuning again",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default: all)")
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a setting (JSON value), e.g. images=4, scaling_sizes=[256]; keys: {', '.join(FULL)}",
    )
    args = ap.parse_args(argv)

    P = dict(QUICK if args.quick else FULL)
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in P:
            ap.error(f"unknown setting {key!r}; known: {', '.join(P)}")
        P[key] = json.loads(value)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if "grid" in args.sections and "protocol" not in args.sections:
        ap.error("the grid section needs the protocol section")

    from napari_glra import api

    t_start = time.time()
    mf = api.load_model(args.model)  # a name or a directory; lists the available names if unknown
    if mf.path is None:
        raise SystemExit(f"model {args.model!r} has no directory on disk")
    model_dir = str(mf.path)
    model_desc = f"`{mf.name}` v{mf.version}" + ("" if args.model == "default" else f" (`{args.model}`)")
    docs = args.docs
    figures, data = docs / "figures", docs / "data"
    figures.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)

    res: dict[str, Any] = {"model_desc": model_desc, "section_seconds": {}}
    from glra_trainer.device import pick_device
    from napari_glra.glra.model_io import load_model_dir

    res["device"] = str(pick_device(args.device))
    model = load_model_dir(model_dir)
    if "protocol" in args.sections:
        t = time.time()
        prot = run_protocol(args, P, model_dir, data)
        model = prot["model"]
        plot_psnr_vs_noise(prot["table"], figures)
        res["protocol"] = prot
        res["section_seconds"]["protocol"] = time.time() - t
        if "grid" in args.sections:
            t = time.time()
            log("[grid] comparison figures")
            res["grid"] = make_grids(prot, P, figures, data)
            res["section_seconds"]["grid"] = time.time() - t
    if "basis" in args.sections:
        t = time.time()
        res["basis"] = run_basis(args, P, model, figures, data)
        res["section_seconds"]["basis"] = time.time() - t
    if "scaling" in args.sections:
        t = time.time()
        res["scaling"] = run_scaling(args, P, model_dir, figures, data)
        res["section_seconds"]["scaling"] = time.time() - t
    t_total = time.time() - t_start

    meta = {
        "settings": P,
        "quick": args.quick,
        "model": model_dir,
        "model_name": mf.name,
        "model_version": mf.version,
        "device": res["device"],
        "seconds": t_total,
        "section_seconds": res["section_seconds"],
        "date": datetime.now(timezone.utc).isoformat(),
    }
    if "protocol" in res:
        p = res["protocol"]
        meta.update(
            {"crops": p["where"], "table": p["table"], "out_of_range": p["ood"], "grid": res.get("grid")}
        )
    if "basis" in res:
        meta["basis"] = {k: v for k, v in res["basis"].items() if k != "seconds"}
    (data / "protocol_meta.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
    write_markdown(docs / "benchmarks.md", args, P, res, t_total)
    log(f"wrote {docs / 'benchmarks.md'} in {fmt_time(t_total)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
