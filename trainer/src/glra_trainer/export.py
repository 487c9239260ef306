"""``glra-train export``: checkpoint → inference files + model card in ``src/napari_glra/models/<name>/``."""

from __future__ import annotations

import csv
import json
import platform
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from napari_glra import __version__ as core_version
from napari_glra.glra.basis import load_basis
from napari_glra.glra.model_io import save_model
from napari_glra.glra.network import GLRANet, NetConfig, count_parameters, macs_per_pixel

from .config import ExportConfig
from .fit import describe_init

#: Default settings as a plain dict (the fields of :class:`glra_trainer.config.ExportConfig`).
DEFAULTS: dict[str, Any] = ExportConfig().model_dump()


def refiner_lines(network: dict[str, Any]) -> list[str]:
    """The model card's line on a refiner (none without one)."""
    r = network.get("refiner")
    if not r:
        return []
    kind = f"a {r['levels']}-level U-Net" if r.get("levels") else f"a flat block of {r.get('depth', 4)} layers"
    return [
        f"- Then a refiner, a second artifact block ({kind}, width {r.get('width', 16)}, at 1/{r.get('scale', 1)} "
        "resolution): it reads the first block's restored image beside the same features and adds its "
        "correction to that image."
    ]


def _phase_text(phase: dict[str, Any]) -> str:
    def show(k: str, v: Any) -> str:
        return "uniform" if k == "family_weights" and v is None else json.dumps(v)

    parts = [
        f"{k} {show(k, v)} (before: {show(k, phase['before'].get(k))})" for k, v in phase["changed"].items()
    ]
    return f"- Continued from step {phase['from_step']:,} with " + ", ".join(parts) + "."


def _source_training(path: str | None) -> dict[str, Any] | None:
    """How an ``init_from`` source was trained, if it says.

    The source is a model directory (its config's metadata) or a run's ``checkpoint.pt``
    (that run's record and log).
    """
    keys = ("steps", "batch", "seconds", "hardware", "init_from", "echo", "init_linear_only")
    src = Path(path) if path else None
    if src is not None and src.is_file() and (src.parent / "run_config.json").is_file():
        t = _training_summary(src.parent)
        t["steps"] = int(torch.load(src, map_location="cpu", weights_only=True)["step"])
        return {k: t.get(k) for k in keys}
    conf = src / "config.json" if src is not None else None
    if conf is None or not conf.is_file():
        return None
    t = json.loads(conf.read_text()).get("training") or {}
    return {k: t.get(k) for k in keys} if t.get("steps") else None


def _training_summary(run: Path) -> dict[str, Any]:
    record = json.loads((run / "run_config.json").read_text())
    rows = list(csv.DictReader(open(run / "log.csv"))) if (run / "log.csv").is_file() else []
    last = rows[-1] if rows else {}
    return {
        "steps": int(last.get("step", 0) or 0),
        "seconds": float(last.get("seconds", 0) or 0),
        "batch": record.get("batch"),
        "crop": record.get("crop"),
        "context": record.get("context"),
        "noise_range": [record.get("noise_min"), record.get("noise_max")],
        "p_saturation": record.get("p_saturation"),
        "train_dir": record.get("train_dir"),
        "source": record.get("source", "folder"),
        "p_natural": record.get("p_natural"),
        "gain_range": record.get("gain_range"),
        "p_brightness": record.get("p_brightness") or 0.0,
        "brightness_range": record.get("brightness_range"),
        "offset_range": record.get("offset_range"),
        "kernel_ranges": record.get("kernel_ranges") or {},
        "noise_model": record.get("noise_model", "gaussian"),
        "peak_range": record.get("peak_range"),
        "read_range": record.get("read_range"),
        "families": record.get("families"),
        "family_weights": record.get("family_weights"),
        "amp": record.get("amp"),
        "p_border": record.get("p_border") or 0.0,
        "fft_loss": record.get("fft_loss") or 0.0,
        "fft_weight": record.get("fft_weight") or "flat",
        "pixel_loss": record.get("pixel_loss") or "l1",
        "init_from": record.get("init_model") or describe_init(record.get("init_from")),
        "init_keep_basis": bool(record.get("init_keep_basis")),
        "init_linear_only": bool(record.get("init_linear_only")),
        "echo": int(record.get("echo") or 1),
        "init_training": _source_training(record.get("init_from")),
        "phases": record.get("phases") or [],
        "final_validation_psnr": {k[4:]: float(v) for k, v in last.items() if k.startswith("val_")},
        # recorded by fit since it records them; earlier runs: this machine's
        "hardware": record.get("hardware")
        or (
            f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
            if record.get("device", "auto") in ("auto", "cpu") and not torch.cuda.is_available()
            else str(record.get("device"))
        ),
        "torch": record.get("torch") or torch.__version__,
    }


def carried_settings(init_from: str | None) -> dict[str, Any]:
    """Engine settings a fine-tuned model keeps from the model it started from.

    The intensity contract (``intensity`` in the source's ``config.json``: which float
    images are used as they are, where the map puts the 99.9th percentile) belongs to how
    the training images were scaled, which a fine-tune keeps.  Measured limits
    (``kernel_limit``) are not carried: they belong to the weights (measure them again with
    ``benchmarks/kernel_limits.py --write``).
    """
    conf = Path(init_from) / "config.json" if init_from else None
    if conf is None or not conf.is_file():
        return {}
    source = json.loads(conf.read_text())
    return {"intensity": source["intensity"]} if isinstance(source.get("intensity"), dict) else {}


def run_export(cfg: ExportConfig | Mapping[str, Any], log: Callable[[str], None] = print) -> Path:
    """Rebuild the network from the run's checkpoint and write the model directory with its card.

    Parameters
    ----------
    cfg : ExportConfig or mapping
        The ``[export]`` settings (a mapping is validated; missing keys take their defaults).
    log : callable
        Receives the progress lines.

    Returns
    -------
    pathlib.Path
        The model directory.
    """
    cfg = ExportConfig.load(cfg)
    run = Path(cfg.run)
    ckpt = run / "checkpoint.pt"
    if not ckpt.is_file():
        raise SystemExit(f"no checkpoint at {ckpt}; run `glra-train fit` first")
    run_cfg = json.loads((run / "run_config.json").read_text())
    basis = load_basis(run_cfg["basis"])
    net = GLRANet(NetConfig.from_dict(run_cfg["network"]))
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net.load_state_dict(state["model"])
    out = Path(cfg.out or Path(__file__).resolve().parents[3] / "src" / "napari_glra" / "models" / cfg.name)
    training = _training_summary(run)
    training["steps"] = int(state["step"])
    evaluation = json.loads(Path(cfg.eval).read_text()) if cfg.eval else None
    more = [json.loads(Path(f).read_text()) for f in cfg.eval_more if f]
    meta = {
        "description": cfg.description,
        "napari_glra_version": core_version,
        "basis": {
            k: basis.metadata.get(k)
            for k in ("families", "noise_levels", "heldout_error", "prior", "reg_scale", "reg_power")
        },
        "training": training,
        "parameters": count_parameters(net),
        "macs_per_pixel": macs_per_pixel(net.config),
    }
    meta["basis"].update(d=basis.d, m=basis.m)
    meta.update(carried_settings(run_cfg.get("init_from")))
    save_model(out, net, basis, name=cfg.name, version=cfg.version, metadata=meta)
    card = model_card(cfg.name, cfg.version, {**meta, "network": net.config.to_dict()}, evaluation, more)
    (out / "MODEL.md").write_text(card)
    size = sum(p.stat().st_size for p in out.iterdir())
    log(f"wrote {out} ({size / 1e6:.2f} MB)")
    log(
        "no kernel size limit recorded (the engine refuses no kernel size until one is): measure it with "
        f"python benchmarks/kernel_limits.py --write --models {out} --csv /tmp/kernel_limits.csv"
    )
    return out


def _evaluation_text(evaluation: dict[str, Any]) -> list[str]:
    """The protocol paragraph and the table of one evaluation summary."""
    from .evaluate import markdown_table

    p = evaluation["protocol"]
    pg = p.get("noise_model", "gaussian") == "poisson_gaussian"
    sat_text = (
        "no saturation"
        if p.get("saturation", 1.2) in (None, 1, 1.0)
        else f"×{p.get('saturation', 1.2):g} saturation"
    )
    noise_text = (
        f"Poisson-Gaussian noise (peak photon counts {', '.join(f'{v:g}' for v in p['noise_levels'])} at "
        f"intensity 1, read noise {p.get('read_noise', 2.0):g} photons)"
        if pg
        else "Gaussian noise"
    )
    given = (
        "the model is given the noise level the engine estimates"
        if p.get("model_noise") == "estimated"
        else "the model is given the true noise level"
    )
    if p.get("model_tta"):
        given += ", with test-time augmentation (`tta=True`: its 8 flips and rotations averaged)"
    if p.get("eval_source", "folder") == "fluorescence":
        text = (
            f"{p['images']} seeded {p['crop']}×{p['crop']} synthetic fluorescence images (seed {p['seed']}), "
            f"one random kernel per image and family, valid blur, {sat_text}, {noise_text}; {given}; metrics "
            "on the valid region. Wiener / RL / TV parameters tuned per family and noise level on a separate "
            f"seeded set of {p['tune_images']} synthetic images (seed {p['seed'] + 1}). Generated by "
            "`glra-train evaluate`."
        )
    else:
        text = (
            f"{p['images']} seeded {p['crop']}×{p['crop']} grey crops of `{p['eval_dir']}` (seed {p['seed']}, "
            f"skipping the {p['skip_images']} validation images), one random kernel per image and family, valid "
            f"blur, {sat_text}, {noise_text}; {given}; metrics on the valid region. Wiener / RL / TV parameters "
            f"tuned per family and noise level on {p['tune_images']} crops of `{p['tune_dir']}`. Generated by "
            "`glra-train evaluate`."
        )
    return [text, markdown_table(evaluation)]


def model_card(
    name: str,
    version: str,
    meta: dict[str, Any],
    evaluation: dict[str, Any] | None,
    more: list[dict[str, Any]] | None = None,
) -> str:
    """Markdown model card from the export metadata and evaluation summaries (the main one, then ``more``)."""
    c = meta["training"]
    net = meta["macs_per_pixel"]
    b = meta["basis"]
    fams = ", ".join(
        f"{f} ({', '.join(f'{k} {lo:g}-{hi:g}' for k, (lo, hi) in r.items())})"
        for f, r in (b.get("families") or {}).items()
    )
    held = ", ".join(f"{f} {100 * e:.2f} %" for f, e in (b.get("heldout_error") or {}).items())
    src = c.get("source", "folder")
    folder = f"random {c['crop']}×{c['crop']} grey crops of `{c['train_dir']}` with flips/rotations"
    synth = (
        f"synthetic fluorescence images (`napari_glra.physics.synthetic`: filaments, membranes, blobs, puncta, "
        f"two-decade dynamic range) of {c['crop']}×{c['crop']} px"
    )
    gain = c.get("gain_range") or [1, 1]
    if src == "fluorescence" or src == "mixed":
        if gain[1] > gain[0]:
            synth += f", times a gain log-uniform in {gain[0]:g}–{gain[1]:g}"
    if c.get("p_brightness"):
        (g0, g1), (b0, b1) = c["brightness_range"], c["offset_range"]
        folder += (
            f", with probability {c['p_brightness']:g} times a brightness log-uniform in {g0:g}–{g1:g} "
            f"plus an offset uniform in {b0:g}–{b1:g}"
        )
    data = {
        "folder": folder,
        "fluorescence": synth,
        "mixed": f"{synth}, and with probability {c.get('p_natural')} {folder}",
    }.get(src, folder)
    if c.get("context"):
        data += f" (each with {c['context']} px of observed blurred context per side)"
    if c.get("noise_model", "gaussian") == "poisson_gaussian":
        pk, rd = c.get("peak_range") or [0, 0], c.get("read_range") or [0, 0]
        noise = (
            f"Poisson-Gaussian noise (peak {pk[0]:g}–{pk[1]:g} photons at intensity 1, read noise "
            f"{rd[0]:g}–{rd[1]:g} photons, both log-uniform; the network is given the effective standard "
            "deviation sqrt(mean variance), what the noise estimator measures)"
        )
        noise_limit = f"peaks of {pk[0]:g}–{pk[1]:g} photons"
    else:
        noise = f"Gaussian noise σ log-uniform in {c['noise_range'][0]:g}–{c['noise_range'][1]:g}"
        noise_limit = f"noise {100 * c['noise_range'][0]:g}–{100 * c['noise_range'][1]:g} %"
    sat = (
        f"×1.2 saturation with probability {c['p_saturation']}" if c.get("p_saturation") else "no saturation"
    )
    train_fams = ", ".join(c.get("families") or list(b.get("families") or {}))
    scale = int((meta.get("network") or {}).get("scale", 1))
    resolution = (
        f"; run at 1/{scale} resolution on {scale}×{scale} pixel-unshuffled features, its "
        f"{scale * scale} outputs per cell pixel-shuffled back"
        if scale > 1
        else ""
    )
    lines = [
        f"# napari-glra model `{name}` (version {version})",
        "",
        meta["description"],
        "",
        "## Architecture",
        f"- GLRA deconvolution block (d = {b.get('d', 151)}, m = {b.get('m', 50)}) computed exactly by FFT, then an "
        f"artifact-removal CNN (LeakyReLU 0.2, valid convolutions, residual on the linear estimate{resolution}).",
        *refiner_lines(meta.get("network") or {}),
        f"- {meta['parameters']:,} trainable parameters; {net['artifact_block']:,.0f} spatial MAC/px after the "
        f"Fourier block ({net['direct']:,.0f} MAC/px if everything were run as spatial convolutions).",
        "",
        "## Basis",
        f"- Kernel families: {fams}.",
        f"- Pseudo-inverse prior: {b.get('prior')}, reg = {b.get('reg_scale')} · σ^{b.get('reg_power')}; "
        f"noise levels {b.get('noise_levels')}.",
        f"- Held-out relative representation error: {held}.",
        "",
        "## Training",
        f"- Data: {data}; valid blur by a random kernel of the families {train_fams}, {noise}, {sat}.",
        f"- {c['steps']:,} steps of batch {c['batch']} (L1 loss, Adam, cosine schedule), "
        f"{c['seconds'] / 3600:.2f} h on {c['hardware']} (torch {c['torch']}).",
    ]
    if c.get("init_from") and c.get("init_linear_only"):
        lines.append(
            f"- Deconvolution block (L, R, 1×1 mix) initialised from {c['init_from']}; artifact block "
            "trained from scratch (`init_from`, `init_linear_only`)."
        )
    elif c.get("init_from") and c.get("init_keep_basis"):
        lines.append(
            f"- Initialised from {c['init_from']}: every weight copied (`init_from`, `init_keep_basis`)."
        )
    elif c.get("init_from"):
        lines.append(
            f"- Initialised from {c['init_from']}: artifact block copied, 1×1 mix carried over to this "
            "basis (`init_from`)."
        )
    src = c.get("init_training")
    if c.get("init_from") and src:
        lines.append(
            f"- That model: {src['steps']:,} steps of batch {src['batch']}"
            + (f" (each batch used {src['echo']}×)" if (src.get("echo") or 1) > 1 else "")
            + f", {src['seconds'] / 3600:.2f} h on {src['hardware']}"
            + (
                f"; its deconvolution block (L, R, mix) from {src['init_from']}, artifact block from scratch."
                if src.get("init_from") and src.get("init_linear_only")
                else (f"; itself initialised from {src['init_from']}." if src.get("init_from") else ".")
            )
        )
    if c.get("family_weights") and not any("family_weights" in p["changed"] for p in c.get("phases", [])):
        lines.append(f"- Families drawn with relative frequencies {c['family_weights']}.")
    if c.get("amp"):
        lines.append(f"- Artifact block trained under {c['amp']} autocast (`amp`).")
    if (c.get("echo") or 1) > 1:
        lines.append(f"- Data echoing: each batch used for {c['echo']} consecutive steps (`echo`).")
    for fam, ranges in (c.get("kernel_ranges") or {}).items():
        text = ", ".join(f"{name} {lo:g}-{hi:g}" for name, (lo, hi) in ranges.items())
        lines.append(
            f"- Training kernels of the family {fam} drawn with {text} (`kernel_ranges`), beyond the basis "
            "ranges above (validation kept the basis ranges)."
        )
    if c.get("p_border"):
        lines.append(
            f"- {100 * c['p_border']:g} % of the samples at an image border, extended as the engine "
            "does; loss on observed pixels only (`p_border`)."
        )
    if c.get("fft_loss") or c.get("pixel_loss") == "l2":
        pixel = 'squared error (`pixel_loss = "l2"`)' if c.get("pixel_loss") == "l2" else "L1"
        fft = ""
        if c.get("fft_loss"):
            fft = f" plus {c['fft_loss']:g} × the L1 norm of the error's Fourier transform" + (
                ' relative to the signal in each frequency ring (`fft_loss`, `fft_weight = "relative"`)'
                if c.get("fft_weight") == "relative"
                else " (`fft_loss`)"
            )
        lines.append(f"- Loss: pixel {pixel}{fft}.")
    lines += [_phase_text(p) for p in c.get("phases", [])]
    lines += [
        "",
        "## Evaluation",
    ]
    if evaluation:
        lines += _evaluation_text(evaluation)
    else:
        lines.append("Not evaluated yet: run `glra-train evaluate` and export with `--set eval=...`.")
    for i, ev in enumerate(more or []):
        source = ev["protocol"].get("eval_source", "folder")
        title = (
            "synthetic fluorescence" if source == "fluorescence" else f"`{ev['protocol'].get('eval_dir')}`"
        )
        lines += ["", f"### Also evaluated on {title}" + (f" ({i + 1})" if len(more) > 1 else ""), ""]
        lines += _evaluation_text(ev)
    lines += [
        "",
        "## Limits",
        f"- Trained on the kernel ranges above and {noise_limit}; larger kernels or noise work but are outside "
        "the training range (the widget shows the kernel's GLRA representation error).",
        "- 2D only: stacks are restored plane by plane.",
    ]
    untrained = [f for f in (b.get("families") or {}) if c.get("families") and f not in c["families"]]
    if untrained:
        lines.append(
            f"- The basis also represents {', '.join(untrained)} kernels (so they pass the kernel-fit check), "
            f"but the network was trained on {train_fams} only: expect less on the others."
        )
    lines.append("")
    return "\n".join(lines)
