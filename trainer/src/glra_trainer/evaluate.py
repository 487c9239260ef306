"""``glra-train evaluate``: PSNR/SSIM per family and noise level, model vs tuned classical methods.

Protocol (the paper's): grey crops of the evaluation folder (a fixed, seeded
subset), a seeded random kernel per image and family, *valid* blur, ×1.2
saturation with clipping, Gaussian noise; metrics on the whole valid region
against the saturated sharp crop.  Wiener, Richardson-Lucy and TV with a
mirror boundary, and RL / TV with a "valid" data term on the observed pixels
only (stronger near the border), have their parameter tuned per family and
noise level on a separate folder (BSDS500 train images by default), never on
the evaluation images.

Synthetic fluorescence protocol (``eval_source = "fluorescence"``): the test
images are seeded procedural fluorescence images
(:func:`napari_glra.physics.synthetic.fluorescence_image`, seed ``seed``) and the
tuning images a separate seeded set (seed ``seed + 1``), both ``crop`` pixels
square.  With ``noise_model = "poisson_gaussian"`` each noise level is a peak
photon count (photons at intensity 1 of the sharp image) and ``read_noise``
photons of Gaussian read noise are added; saturation is off by default for
this source.  ``model_noise = "estimated"`` gives the model the noise level the
engine estimates from the observation (as users run it, ``noise_level=None``);
``"known"`` gives it the true standard deviation (for Poisson-Gaussian noise
the effective ``sqrt(mean variance)``, :func:`napari_glra.physics.degrade.effective_noise`).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from napari_glra.api import deconvolve
from napari_glra.engine.noise import estimate_noise
from napari_glra.glra.inference import restore_plane
from napari_glra.glra.model_io import load_model_dir
from napari_glra.metrics import pooled_resolution, psnr, resolution, ssim
from napari_glra.physics.degrade import blur, effective_noise
from napari_glra.physics.kernels import sample_kernel
from napari_glra.physics.synthetic import fluorescence_image

from .baselines import METHODS as CLASSICAL
from .baselines import SATURATION, degrade_level, noise_key, run_baseline, tune_baselines
from .config import EvaluateConfig
from .data import list_images, load_grey
from .device import pick_device

#: Default settings as a plain dict (the fields of :class:`glra_trainer.config.EvaluateConfig`).
DEFAULTS: dict[str, Any] = EvaluateConfig().model_dump()

#: Protocol settings a ``tuned`` summary must share, with the value older summaries imply.
TUNING_KEYS: dict[str, Any] = {
    "tune_dir": None,
    "tune_images": None,
    "crop": None,
    "families": None,
    "noise_levels": None,
    "seed": None,
    "eval_source": "folder",
    "noise_model": "gaussian",
    "read_noise": 2.0,
    "saturation": SATURATION,
    "fluorescence": {},
}

#: Settings of the protocol a summary records (its ``protocol``).
PROTOCOL_KEYS = (
    "eval_dir",
    "tune_dir",
    "images",
    "skip_images",
    "tune_images",
    "crop",
    "families",
    "noise_levels",
    "seed",
    "eval_source",
    "noise_model",
    "read_noise",
    "saturation",
    "model_noise",
    "model_tta",
    "fluorescence",
)

LABELS = {
    "model": "napari-glra",
    "linear": "GLRA linear block",
    "wiener": "Wiener (tuned)",
    "rl": "Richardson-Lucy (tuned)",
    "tv": "TV / HQS (tuned)",
    "wiener_valid": "Wiener, valid data term (tuned)",
    "rl_valid": "Richardson-Lucy, valid data term (tuned)",
    "tv_valid": "TV, valid data term (tuned)",
    "blurred": "blurred input",
}


def select_crops(
    folder: str, n: int, skip: int, crop: int, seed: int
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """``n`` seeded random crops from the images of ``folder`` after the first ``skip`` (sorted).

    Returns the crops (float64) and, for each, where it comes from: ``file`` (name), ``row``,
    ``col`` (its top-left corner) and ``shape``.
    """
    rng = np.random.default_rng(seed)
    files = list_images(folder)
    files = files[skip:] if len(files) > skip else files
    chosen = [files[i] for i in rng.permutation(len(files))[:n]]
    out, where = [], []
    for f in chosen:
        img = load_grey(f)
        i = int(rng.integers(0, max(1, img.shape[0] - crop + 1)))
        j = int(rng.integers(0, max(1, img.shape[1] - crop + 1)))
        out.append(img[i : i + crop, j : j + crop].astype(np.float64))
        where.append({"file": f.name, "row": i, "col": j, "shape": list(out[-1].shape)})
    return out, where


def case_rng(seed: int, noise: float, family_index: int) -> np.random.Generator:
    """The generator of one (noise level, family) cell: each image's kernel, then its noise, in turn."""
    return np.random.default_rng([seed, int(noise * 1e4), family_index])


def _blurred(x: np.ndarray, k: np.ndarray, saturation: float | None) -> np.ndarray:
    """The noise-free observation of :func:`degrade_level` (valid blur, then saturation)."""
    y = blur(x, k, "valid")
    return np.clip(y * saturation, 0.0, 1.0) if saturation else y


def fluorescence_set(n: int, crop: int, seed: int, **kwargs: Any) -> list[np.ndarray]:
    """``n`` seeded synthetic fluorescence images of ``crop`` x ``crop`` pixels (float64, [0, 1])."""
    rng = np.random.default_rng(seed)
    return [fluorescence_image((crop, crop), rng, **kwargs).astype(np.float64) for _ in range(n)]


def resolve_protocol(cfg: EvaluateConfig | Mapping[str, Any]) -> EvaluateConfig:
    """``cfg`` validated, with the protocol's derived settings filled in.

    Parameters
    ----------
    cfg : EvaluateConfig or mapping
        The ``[evaluate]`` settings (a mapping is validated; missing keys take their defaults).

    Returns
    -------
    EvaluateConfig
        With ``saturation`` set: 1.2 (the paper's) for the "folder" protocol and 1 (none) for
        "fluorescence" unless given.
    """
    cfg = EvaluateConfig.load(cfg)
    if cfg.saturation is None:
        cfg = cfg.model_copy(update={"saturation": SATURATION if cfg.eval_source == "folder" else 1.0})
    return cfg


def level_label(noise: float | str, protocol: dict[str, Any]) -> str:
    """Human-readable noise level: ``"Noise 1 %"`` or ``"Peak 1000 photons, read noise 2 photons"``."""
    if protocol.get("noise_model", "gaussian") == "poisson_gaussian":
        return f"Peak {float(noise):g} photons, read noise {protocol.get('read_noise', 2.0):g} photons"
    return f"Noise {100 * float(noise):g} %"


def run_evaluate(
    cfg: EvaluateConfig | Mapping[str, Any], log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Evaluate; writes ``results.csv``, ``summary.json`` and ``table.md`` into ``cfg.out``.

    Parameters
    ----------
    cfg : EvaluateConfig or mapping
        The ``[evaluate]`` settings (a mapping is validated; missing keys take their defaults).
    log : callable
        Receives the progress lines and the table.

    Returns
    -------
    dict
        The summary (:func:`summarise`) with ``tuned_parameters`` and ``seconds``.
    """
    t0 = time.time()
    cfg = resolve_protocol(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    methods = list(cfg.methods)
    pg = cfg.noise_model == "poisson_gaussian"
    sat = cfg.saturation if cfg.saturation != 1 else None
    model = None
    if {"model", "linear"} & set(methods):
        model = load_model_dir(cfg.model)
        model.net.to(device)
    if cfg.eval_source == "fluorescence":
        fl = cfg.fluorescence or {}
        images = fluorescence_set(cfg.images, cfg.crop, cfg.seed, **fl)
        tune_imgs = fluorescence_set(cfg.tune_images, cfg.crop, cfg.seed + 1, **fl)
        tune_from = "synthetic fluorescence images"
    else:
        images, _ = select_crops(cfg.eval_dir, cfg.images, cfg.skip_images, cfg.crop, cfg.seed)
        tune_imgs, _ = select_crops(cfg.tune_dir, cfg.tune_images, 0, cfg.crop, cfg.seed + 1)
        tune_from = f"images from {cfg.tune_dir}"
    classical = [m for m in methods if m in CLASSICAL]
    tuned: dict = {}
    if classical and cfg.tuned:
        earlier = json.loads(Path(cfg.tuned).read_text())
        differ = [
            k
            for k, legacy in TUNING_KEYS.items()
            if earlier["protocol"].get(k, legacy) != getattr(cfg, k)
            and not (k == "read_noise" and not pg)  # the read noise only matters for Poisson-Gaussian
        ]
        if differ:
            raise SystemExit(f"{cfg.tuned} was tuned with other settings ({', '.join(differ)}); tune again")
        tuned = earlier["tuned_parameters"]
        missing = [m for m in classical if m not in tuned]
        if missing:
            raise SystemExit(f"{cfg.tuned} has no tuned parameters for {missing}; tune them (omit `tuned`)")
        log(f"tuned parameters of {classical} from {cfg.tuned}")
    elif classical:
        log(f"tuning {classical} on {len(tune_imgs)} {tune_from}")
        tuned = tune_baselines(
            tune_imgs,
            cfg.families,
            cfg.noise_levels,
            seed=cfg.seed + 2,
            methods=classical,
            log=log,
            noise_model=cfg.noise_model,
            read_noise=cfg.read_noise,
            saturation=sat,
        )
    rows = []
    pooled: dict[tuple[float, str, str], float] = {}
    for noise in cfg.noise_levels:
        for fam in cfg.families:
            rng = case_rng(cfg.seed, noise, cfg.families.index(fam))
            pairs: dict[str, tuple[list, list]] = {}
            for i, x in enumerate(images):
                k, params = sample_kernel(fam, rng)
                y, xs = degrade_level(x, k, noise, rng, cfg.noise_model, cfg.read_noise, sat)
                if cfg.model_noise == "estimated":
                    sigma = None  # the engine estimates it (as with noise_level=None)
                elif pg:  # the single std the model is trained with (and the estimator measures)
                    sigma = effective_noise(_blurred(x, k, sat), cfg.read_noise / noise, noise)
                else:
                    sigma = noise
                results = {"blurred": (y, 0.0)}
                for m in methods:
                    t = time.time()
                    if m == "model":  # the engine users run (border extension, noise level as configured)
                        est = deconvolve(
                            y, k, noise_level=sigma, model=model, device=str(device), tta=cfg.model_tta
                        )
                    elif m == "linear":
                        s_lin = estimate_noise(y, kernel=k) if sigma is None else sigma
                        est = restore_plane(model, y, k, s_lin, device=device, linear_only=True)
                    else:
                        est = run_baseline(m, y, k, tuned[m][fam][noise_key(noise)]["params"])
                    results[m] = (est, time.time() - t)
                for m, (est, dt) in results.items():
                    est = np.clip(est, 0, 1)
                    pairs.setdefault(m, ([], []))[0].append(est)
                    pairs[m][1].append(xs)
                    rows.append(
                        {
                            "family": fam,
                            "noise": noise,
                            "image": i,
                            "method": m,
                            "psnr": psnr(est, xs),
                            "ssim": ssim(est, xs),
                            "resolution_px": resolution(est, xs),
                            "seconds": dt,
                        }
                    )
            for m, (ests, refs) in pairs.items():
                pooled[(noise, fam, m)] = pooled_resolution(ests, refs)
            cell = [r for r in rows if r["family"] == fam and r["noise"] == noise]
            means = {m: np.mean([r["psnr"] for r in cell if r["method"] == m]) for m in ["blurred", *methods]}
            level = f"peak {noise:g}" if pg else f"noise {noise:.3f}"
            log(f"{level} {fam}: " + ", ".join(f"{m} {v:.2f}" for m, v in means.items()))
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary = summarise(rows, ["blurred", *methods], cfg, pooled)
    summary["tuned_parameters"] = tuned
    summary["seconds"] = time.time() - t0
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "table.md").write_text(markdown_table(summary))
    log(markdown_table(summary))
    return summary


def summarise(
    rows: list[dict],
    methods: list[str],
    cfg: EvaluateConfig,
    pooled: dict[tuple[float, str, str], float] | None = None,
) -> dict[str, Any]:
    """Mean PSNR/SSIM per (noise, family, method) and the model's margin over the best classical method.

    Parameters
    ----------
    rows : list of dict
        One per image, family, noise level and method (``psnr``, ``ssim``, ``seconds``, and
        ``resolution_px``, summarised by its median and its geometric mean).
    methods : list of str
        The methods, in the table's order.
    cfg : EvaluateConfig
        The protocol (:func:`resolve_protocol`).
    pooled : dict, optional
        ``(noise, family, method) ->`` :func:`napari_glra.metrics.pooled_resolution` of the
        cell's images (``resolution_px_pooled``).

    Returns
    -------
    dict
        ``protocol`` (the settings named in :data:`PROTOCOL_KEYS`), ``methods`` and ``table``.
    """
    table: dict[str, Any] = {}
    for noise in cfg.noise_levels:
        for fam in cfg.families:
            cell = {}
            for m in methods:
                sel = [r for r in rows if r["noise"] == noise and r["family"] == fam and r["method"] == m]
                cell[m] = {
                    "psnr": float(np.mean([r["psnr"] for r in sel])),
                    "ssim": float(np.mean([r["ssim"] for r in sel])),
                    "resolution_px": float(np.median([r["resolution_px"] for r in sel])),
                    # per image, the resolution is bimodal at the lowest light (a few px where detail
                    # is restored, near the image size where not): the log-average is the steadier summary
                    "resolution_px_gmean": float(np.exp(np.mean(np.log([r["resolution_px"] for r in sel])))),
                    **({"resolution_px_pooled": pooled[(noise, fam, m)]} if pooled else {}),
                    "seconds": float(np.mean([r["seconds"] for r in sel])),
                }
            classical = [m for m in CLASSICAL if m in cell]
            if "model" in cell and classical:
                best = max(classical, key=lambda m: cell[m]["psnr"])
                cell["margin_over_best_classical"] = {
                    "best": best,
                    "db": cell["model"]["psnr"] - cell[best]["psnr"],
                }
            table.setdefault(noise_key(noise), {})[fam] = cell
    return {
        "protocol": {k: getattr(cfg, k) for k in PROTOCOL_KEYS},
        "methods": methods,
        "table": table,
    }


def markdown_table(summary: dict[str, Any]) -> str:
    """PSNR / SSIM table, one block per noise level, best per column in bold.

    Fluorescence protocols add the resolution (:func:`napari_glra.metrics.resolution`, px:
    the finest period restored with more than half of its signal power right; smaller is
    sharper) twice: the geometric mean of the per-image values, and the crossing of the ring
    powers pooled over the images (:func:`napari_glra.metrics.pooled_resolution`; weighs the
    images by their signal power).  Per image it is bimodal in low light: a few
    pixels where detail comes through, about the image size where even the coarsest ring fails
    (often for every method alike), so the median lands on whichever image sits at the gap (at
    30 photons it put the 1-iteration Richardson-Lucy, i.e. the noisy input, ahead of a model
    finer than it on 8 of 12 images); ``summary.json`` keeps the median too.
    """
    methods = summary["methods"]
    fluo = summary.get("protocol", {}).get("eval_source") == "fluorescence"
    lines = []
    for noise, fams in summary["table"].items():
        names = list(fams)
        what = (
            "PSNR (dB) / SSIM / resolution (px: geometric mean over the images / pooled)"
            if fluo
            else "PSNR (dB) / SSIM"
        )
        lines.append(f"\n**{level_label(noise, summary.get('protocol', {}))}** — {what}\n")
        lines.append("| method | " + " | ".join(names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        best = {
            f: max((m for m in methods if m != "blurred"), key=lambda m: fams[f][m]["psnr"]) for f in names
        }
        for m in methods:
            cells = []
            for f in names:
                c = fams[f][m]
                txt = f"{c['psnr']:.2f} / {c['ssim']:.3f}"
                if fluo and "resolution_px_gmean" in c:
                    txt += f" / {c['resolution_px_gmean']:.2f}"
                if fluo and "resolution_px_pooled" in c:
                    txt += f" / {c['resolution_px_pooled']:.2f}"
                cells.append(f"**{txt}**" if best[f] == m else txt)
            lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + " |")
        if all("margin_over_best_classical" in fams[f] for f in names):
            lines.append(
                "| *margin over best tuned classical* | "
                + " | ".join(
                    "{db:+.2f} dB (vs {best})".format(**fams[f]["margin_over_best_classical"]) for f in names
                )
                + " |"
            )
    return "\n".join(lines) + "\n"
