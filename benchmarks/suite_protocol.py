"""Section ``protocol``: the paper's PSNR/SSIM table per kernel family x noise level x method.

The model, the GLRA linear block and the tuned classical methods come from
:func:`glra_trainer.evaluate.run_evaluate`; this module replays the same degraded inputs for the
methods the evaluation does not run (noise estimated, unsupervised Wiener-Hunt, the ablation
model), tests kernels beyond the training ranges, and merges everything into one table
(``data/protocol_summary.csv``, ``data/protocol_extra_results.csv``,
``data/protocol_out_of_range.csv``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from suite_io import log, write_csv
from suite_methods import cases, engine_restore, tuned_params, uwiener
from suite_settings import CLASSICAL, LABELS, METHOD_ORDER, OOD_RANGES, use_classical

from napari_glra.metrics import psnr, ssim


def run_protocol(args, P: dict, model_dir: str, data: Path) -> dict[str, Any]:
    import torch  # noqa: F401  (imported before the trainer for a clean error if missing)

    from glra_trainer.device import pick_device
    from glra_trainer.evaluate import select_crops
    from napari_glra.glra.model_io import load_model_dir
    from napari_glra.physics.kernels import FAMILIES

    families = list(FAMILIES)
    noise_levels = [float(s) for s in P["noise_levels"]]
    t0 = time.time()
    summary = _evaluate(args, P, model_dir, data, families, noise_levels)
    t_eval = time.time() - t0
    tuned = summary.get("tuned_parameters", {})

    # The same inputs again, for the methods the evaluation does not run.
    images, where = select_crops(args.eval_dir, P["images"], P["skip_images"], P["crop"], P["seed"])
    device = pick_device(args.device)
    model = load_model_dir(model_dir)
    model.net.to(device)
    ablation = None
    if args.ablation_model:
        ablation = load_model_dir(args.ablation_model)
        ablation.net.to(device)
    extra = ["model_est", "uwiener"] + (["ablation"] if ablation is not None else [])
    t1 = time.time()
    rows = _extra_rows(images, families, noise_levels, P["seed"], extra, model, ablation, device, summary)
    t_extra = time.time() - t1
    write_csv(data / "protocol_extra_results.csv", rows)

    noise = min(noise_levels, key=lambda s: abs(s - 0.01))
    ood_rows = _out_of_range_rows(images[: P["ood_images"]], families, noise, P["seed"], model, device, tuned)
    if ood_rows:
        write_csv(data / "protocol_out_of_range.csv", ood_rows)

    table = _merge(summary, rows, extra, families, noise_levels)
    write_csv(data / "protocol_summary.csv", _flat(table, families, noise_levels, P["images"]))
    return {
        "table": table,
        "tuned": tuned,
        "protocol": summary["protocol"],
        "where": where,
        "ood": _out_of_range_summary(ood_rows, families) if ood_rows else None,
        "noise_level": noise,
        "seconds": {"evaluate": t_eval, "extra": t_extra},
        "images": images,
        "model": model,
        "device": device,
    }


def _evaluate(args, P: dict, model_dir: str, data: Path, families, noise_levels) -> dict[str, Any]:
    """:func:`glra_trainer.evaluate.run_evaluate` on the suite's settings (its summary)."""
    from glra_trainer.baselines import METHODS as BASELINES
    from glra_trainer.evaluate import DEFAULTS, run_evaluate

    methods = list(dict.fromkeys(["model", "linear", *(P.get("classical") or DEFAULTS["methods"])]))
    use_classical([m for m in methods if m in BASELINES])
    cfg = dict(DEFAULTS)
    cfg.update(
        {
            "model": model_dir,
            "eval_dir": args.eval_dir,
            "tune_dir": args.tune_dir,
            "images": P["images"],
            "skip_images": P["skip_images"],
            "crop": P["crop"],
            "tune_images": P["tune_images"],
            "families": families,
            "noise_levels": noise_levels,
            "methods": methods,
            "seed": P["seed"],
            "out": str(data / "evaluate"),
            "device": args.device,
        }
    )
    if args.tuned:
        if "tuned" not in DEFAULTS:
            raise SystemExit("--tuned needs a glra_trainer whose evaluate accepts `tuned`")
        cfg["tuned"] = str(args.tuned)
    log(f"[protocol] glra_trainer.evaluate.run_evaluate on {cfg['images']} crops of {cfg['crop']} px")
    return run_evaluate(cfg, log=lambda m: log("  " + m))


def _extra_rows(images, families, noise_levels, seed, extra, model, ablation, device, summary) -> list[dict]:
    """Per image, the ``extra`` methods on the evaluation's inputs (checked against its blurred PSNR)."""
    rows: list[dict[str, Any]] = []
    drift = 0.0
    for noise in noise_levels:
        for fam in families:
            blurred = []
            for i, y, xs, k, _ in cases(images, families, fam, noise, seed):
                blurred.append(psnr(np.clip(y, 0, 1), xs))
                for m in extra:
                    t = time.time()
                    info = {}
                    if m == "model_est":
                        est, info = engine_restore(y, k, None, model, device, return_info=True)
                    elif m == "uwiener":
                        est = uwiener(y, k)
                    else:  # the ablation model through the engine, like the model
                        est = engine_restore(y, k, noise, ablation, device)
                    dt = time.time() - t
                    est = np.clip(est, 0, 1)
                    rows.append(
                        {
                            "family": fam,
                            "noise": noise,
                            "image": i,
                            "method": m,
                            "psnr": psnr(est, xs),
                            "ssim": ssim(est, xs),
                            "seconds": dt,
                            "noise_used": info.get("noise_level", ""),
                            "kernel_fit_error": info.get("kernel_fit_error", ""),
                        }
                    )
            ref = summary["table"][str(noise)][fam]["blurred"]["psnr"]
            drift = max(drift, abs(float(np.mean(blurred)) - ref))
            cell = [r for r in rows if r["noise"] == noise and r["family"] == fam]
            log(
                f"  [extra] noise {noise:.3f} {fam}: "
                + ", ".join(
                    f"{m} {np.mean([r['psnr'] for r in cell if r['method'] == m]):.2f}" for m in extra
                )
            )
    if drift > 1e-6:
        raise SystemExit(
            f"the replayed inputs differ from run_evaluate's (blurred PSNR off by {drift:.3g} dB): "
            "glra_trainer.evaluate changed its protocol; update suite_methods.cases() here"
        )
    return rows


def _out_of_range_rows(images, families, noise, seed, model, device, tuned) -> list[dict]:
    """Kernels beyond the training ranges at ``noise``, classical parameters tuned for the family there."""
    from glra_trainer.baselines import run_baseline
    from napari_glra.engine.kernel_fit import kernel_extent, kernel_size_limit
    from napari_glra.physics.degrade import degrade
    from napari_glra.physics.kernels import make_kernel

    ood_rows = []
    for fi, fam in enumerate(families):
        name, lo, hi = OOD_RANGES[fam]
        rng = np.random.default_rng([seed, 99, fi])
        for i, x in enumerate(images):
            params = {name: float(rng.uniform(lo, hi))}
            if fam == "motion":
                params["seed"] = int(rng.integers(2**31))
            k = make_kernel(fam, **params)
            if k.shape[0] > model.basis.d // 2 or k.shape[0] >= x.shape[0] // 2:  # the API's limit: d // 2
                continue
            limit = kernel_size_limit(model)
            if limit is not None and kernel_extent(k) > limit:  # the engine refuses it (measured limit)
                continue
            y, xs = degrade(
                x, k, noise=noise, saturation=1.2, mode="valid", seed=np.random.default_rng([i, fi])
            )
            err = float(model.basis.kernel_coefficients(k, noise)[1])
            res = {"model": engine_restore(y, k, noise, model, device)}  # its fit error is in the table
            for m in CLASSICAL:
                res[m] = run_baseline(m, y, k, tuned_params(tuned, m, fam, noise))
            for m, est in res.items():
                est = np.clip(est, 0, 1)
                ood_rows.append(
                    {
                        "family": fam,
                        "image": i,
                        "kernel_size": k.shape[0],
                        **{"param": params[name]},
                        "method": m,
                        "psnr": psnr(est, xs),
                        "ssim": ssim(est, xs),
                        "kernel_fit_error": err,
                    }
                )
    return ood_rows


def _merge(summary: dict, rows: list[dict], extra: list[str], families, noise_levels) -> dict:
    """One table: the evaluation's cells plus the mean per (noise, family) of each extra method."""
    table = {str(s): {f: dict(summary["table"][str(s)][f]) for f in families} for s in noise_levels}
    for s in noise_levels:
        for f in families:
            for m in extra:
                sel = [r for r in rows if r["noise"] == s and r["family"] == f and r["method"] == m]
                table[str(s)][f][m] = {
                    "psnr": float(np.mean([r["psnr"] for r in sel])),
                    "ssim": float(np.mean([r["ssim"] for r in sel])),
                    "seconds": float(np.mean([r["seconds"] for r in sel])),
                }
                if m == "model_est":
                    table[str(s)][f][m]["noise_used"] = float(np.mean([r["noise_used"] for r in sel]))
    return table


def _flat(table: dict, families, noise_levels, images: int) -> list[dict]:
    """The rows of ``protocol_summary.csv``."""
    flat = []
    for s in noise_levels:
        for f in families:
            for m in METHOD_ORDER:
                if m in table[str(s)][f]:
                    c = table[str(s)][f][m]
                    flat.append(
                        {
                            "noise": s,
                            "family": f,
                            "method": m,
                            "label": LABELS[m],
                            "psnr": round(c["psnr"], 4),
                            "ssim": round(c["ssim"], 5),
                            "seconds_per_image": round(c["seconds"], 4),
                            "images": images,
                        }
                    )
    return flat


def _out_of_range_summary(ood_rows: list[dict], families) -> dict[str, Any]:
    ood = {}
    for f in families:
        sel = [r for r in ood_rows if r["family"] == f]
        if not sel:
            continue
        ood[f] = {
            "images": len({r["image"] for r in sel}),
            "param": OOD_RANGES[f][0],
            "range": list(OOD_RANGES[f][1:]),
            "kernel_size": [min(r["kernel_size"] for r in sel), max(r["kernel_size"] for r in sel)],
            "fit_error": float(np.mean([r["kernel_fit_error"] for r in sel if r["method"] == "model"])),
            "psnr": {
                m: float(np.mean([r["psnr"] for r in sel if r["method"] == m])) for m in ["model", *CLASSICAL]
            },
        }
    return ood
