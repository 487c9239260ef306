"""``glra-train fit``: train a GLRANet with on-the-fly degradation, CSV log, curves, checkpoints."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_glra.glra.basis import load_basis
from napari_glra.physics.kernels import FAMILIES
from napari_glra.glra.network import GLRANet, NetConfig, count_parameters, macs_per_pixel

from .data import Degrader, load_images, validation_set
from .device import describe_hardware, pick_device
from .loader import BatchStream

DEFAULTS: dict[str, Any] = {
    "basis": "trainer/runs/default/basis.safetensors",
    "out": "trainer/runs/default",
    "train_dir": "../shared/data/bsds500/train",
    "val_dir": "../shared/data/bsds500/test",
    "max_train_images": None,
    "val_images": 12,
    "val_per_family": 8,
    "val_noise": 0.01,
    "crop": 128,
    "batch": 8,
    "steps": 6000,
    "lr": 1e-3,
    "lr_min": 2e-5,
    "basis_lr_scale": 0.05,
    "noise_min": 0.005,
    "noise_max": 0.03,
    "p_saturation": 0.7,
    "context": 0,
    "kmax": 45,  # every kernel is zero-padded to this odd size (larger draws are redrawn)
    "families": None,  # kernel families; None: those of the basis (its metadata), else FAMILIES
    "family_weights": None,  # relative frequency of each family in training batches (None: uniform)
    # Image source: "folder" (train_dir images, dead leaves without), "fluorescence"
    # (napari_glra.physics.synthetic), "mixed" (folder with probability p_natural, else fluorescence).
    "source": "folder",
    "p_natural": 0.5,
    "fluorescence": {},  # keyword arguments of napari_glra.physics.synthetic.fluorescence_image
    "gain_range": [1.0, 1.0],  # log-uniform gain of fluorescence patches (see data.Degrader)
    # Noise: "gaussian" (noise_min-noise_max) or "poisson_gaussian" (peak photons at intensity 1
    # and read noise in photons, both log-uniform); the network gets the effective std.
    "noise_model": "gaussian",
    "peak_range": [100.0, 3000.0],
    "read_range": [0.5, 5.0],
    "val_source": None,  # None: the training source ("fluorescence" for "mixed")
    "val_peak": 300.0,  # validation noise for "poisson_gaussian" (read noise val_read photons)
    "val_read": 2.0,
    "checkpoint_every": 250,
    "val_every": 500,
    "max_minutes": None,
    "seed": 0,
    "threads": None,
    "device": "auto",
    "random_init": False,
    # Start from a trained model (an exported model directory or a run's checkpoint.pt) with
    # the same network config: every weight is copied except the basis filters L, R (taken
    # from this run's basis) and the 1x1 mix, which is carried over to the new basis.
    "init_from": None,
    # With init_from: also copy its trained basis filters L, R (same d, m) instead of this
    # run's basis file, so training continues from exactly the source model's function.
    "init_keep_basis": False,
    # With init_from: copy only its deconvolution block (L, R and the 1x1 mix; same d, m,
    # balances and mix count); the artifact block starts afresh, so it may differ (another
    # width, depth or scale).
    "init_linear_only": False,
    # Probability that a training sample sits at an image border (data.Degrader.cut_border);
    # the loss then counts observed pixels only.  Use with network.border_channel = true.
    "p_border": 0.0,
    # Autocast dtype of the artifact block during training: None (float32) or "bfloat16"
    # (about 2.5x faster on CPUs with native bf16; what the engine runs there by default).
    "amp": None,
    # Processes that make the training batches (see glra_trainer.loader): 0 draws them in
    # this process from one sequential generator; >= 1 draws batch s from rng(seed, s).
    "workers": 0,
    # Data echoing (Choi et al. 2019): each batch is used for this many consecutive optimiser
    # steps; for runs bound by making the batches (a GPU fed by a few CPU workers).
    "echo": 1,
    "network": {},
}

CKPT = "checkpoint.pt"
#: Values of the ``amp`` option and the autocast dtype of each.
AMP_DTYPES: dict[str | None, torch.dtype | None] = {None: None, "bfloat16": torch.bfloat16}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-12)))


def _lr_at(step: int, cfg: dict[str, Any], elapsed: float = 0.0) -> float:
    """Linear warm-up, then cosine decay over the steps or the time budget, whichever ends first."""
    warm = 100
    if step < warm:
        return cfg["lr"] * (step + 1) / warm
    t = (step - warm) / max(1, cfg["steps"] - warm)
    if cfg.get("max_minutes"):
        t = max(t, elapsed / (60 * cfg["max_minutes"]))
    t = min(1.0, t)
    return cfg["lr_min"] + 0.5 * (cfg["lr"] - cfg["lr_min"]) * (1 + math.cos(math.pi * t))


def write_run_config(path: Path, record: dict[str, Any], step: int) -> None:
    """Write the resolved configuration; a resumed run with other settings keeps the history.

    When a run resumes at ``step > 0`` with settings that differ from the recorded
    ones, ``phases`` gets ``{"from_step", "changed", "before"}`` (the new and the
    earlier values), so the model card can tell how every step was trained.
    """
    phases: list[dict[str, Any]] = []
    if step > 0 and path.is_file():
        old = json.loads(path.read_text())
        phases = list(old.get("phases", []))
        if old.get("init_model") and not record.get("init_model"):  # a resumed run is not re-initialised
            record = {**record, "init_model": old["init_model"]}
        ignore = {"phases", "threads", "device", "hardware", "torch"}
        keys = sorted((set(old) | set(record)) - ignore)
        # keys a run recorded before they existed had their default value
        changed = {k: record.get(k) for k in keys if old.get(k, DEFAULTS.get(k)) != record.get(k)}
        if changed:
            before = {k: old.get(k, DEFAULTS.get(k)) for k in changed}
            phases.append({"from_step": step, "changed": changed, "before": before})
    path.write_text(json.dumps({**record, "phases": phases}, indent=2) + "\n")


def describe_init(path: str | None) -> str | None:
    """``init_from`` as a model card names it: name and version when it is a model directory."""
    if not path:
        return None
    conf = Path(path) / "config.json"
    if conf.is_file():
        c = json.loads(conf.read_text())
        return f"model `{c.get('name')}` version {c.get('version')} (`{path}`)"
    return f"`{path}`"


def init_from_model(
    net: GLRANet, source: str | Path, keep_basis: bool = False, linear_only: bool = False
) -> str:
    """Copy a trained model's weights into ``net`` (same network config, any basis).

    The artifact block is copied as it is.  ``L`` and ``R`` stay those of ``net`` (its own
    basis).  Each row ``w`` of the 1x1 mix weights the ``m`` deconvolution channels, i.e. it
    acts on the pseudo-inverse as ``L M diag(w) Rᵀ``; with a new basis ``(L', R')`` spanning
    about the same space, the closest diagonal is ``w' = diag(R'ᵀ R diag(w) Rᵀ R')``.

    Parameters
    ----------
    net : GLRANet
        The network to initialise (its ``L``, ``R`` hold the new basis).
    source : str or pathlib.Path
        An exported model directory (``weights.safetensors`` + ``config.json``) or a
        training checkpoint (``checkpoint.pt``).
    keep_basis : bool
        Copy the source's ``L`` and ``R`` as well (every weight: the same function).
    linear_only : bool
        Copy the deconvolution block only (``L``, ``R``, ``mix``: implies ``keep_basis``);
        the artifact block keeps its fresh initialisation and may have another architecture.

    Returns
    -------
    str
        A line for the log.
    """
    from napari_glra.glra.model_io import load_model_dir

    source = Path(source)
    if source.is_dir():
        old = load_model_dir(source).net
        state, old_cfg = old.state_dict(), old.config.to_dict()
    elif source.is_file():
        ck = torch.load(source, map_location="cpu", weights_only=True)
        state, old_cfg = ck["model"], None  # shapes are checked by load_state_dict
    else:
        raise FileNotFoundError(f"init_from: {source} is neither a model directory nor a checkpoint")
    new_cfg = net.config.to_dict()
    if linear_only:
        linear = {k: state[k] for k in ("L", "R", "mix") if k in state}
        mine = {k: v.shape for k, v in net.state_dict().items() if k in ("L", "R", "mix")}
        shapes = {k: v.shape for k, v in linear.items()}
        same = old_cfg is None or all(old_cfg.get(k) == new_cfg[k] for k in ("balances", "d", "m"))
        if shapes != mine or not same:
            raise ValueError(
                f"init_from: the deconvolution block of {source} does not match this network "
                f"(L, R, mix shapes {shapes} vs {mine}; d, m and balances must agree)"
            )
        with torch.no_grad():
            for k, v in linear.items():
                getattr(net, k).copy_(v)
        return f"initialised from {source} (deconvolution block L, R, mix; artifact block fresh)"
    if old_cfg is not None:
        diff = sorted(k for k in new_cfg if old_cfg.get(k, False) != new_cfg[k])
        # Only adding a border channel is allowed (its weights start at zero below).
        if diff and (diff != ["border_channel"] or not new_cfg["border_channel"]):
            raise ValueError(f"init_from: network config of {source} differs in {diff}")
    first = state.get("body.0.weight")
    added = ""
    if first is not None and net.config.border_channel and first.shape[1] == net.config.in_channels - 1:
        # A model without the border channel: its weights start at zero (same function).
        state = {**state, "body.0.weight": torch.cat([first, first.new_zeros(first[:, :1].shape)], 1)}
        added = "; border channel added with zero weights"
    if keep_basis:
        try:
            net.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"init_from: {source} does not match this network: {err}") from None
        return f"initialised from {source} (every weight, its basis filters too{added})"
    R_old, R_new = state["R"].double(), net.R.detach().double()
    P = R_new.T @ R_old  # (m, m): new basis vectors in the old coordinates
    mix = torch.einsum("ij,nj,ij->ni", P, state["mix"].double(), P).float()
    new_state = {**state, "L": net.L.detach().clone(), "R": net.R.detach().clone(), "mix": mix}
    try:
        net.load_state_dict(new_state)
    except RuntimeError as err:
        raise ValueError(f"init_from: {source} does not match this network: {err}") from None
    return f"initialised from {source} (artifact block copied, mix carried over to this basis{added})"


def evaluate_samples(
    net: GLRANet,
    samples: list,
    device: torch.device,
    linear: bool = False,
    context: int = 0,
    body_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Mean PSNR per family of the network (or its linear block) on fixed samples.

    Border samples (``sample.observed``) are scored on their observed pixels only.
    """
    net.eval()
    scores: dict[str, list[float]] = {}
    with torch.inference_mode():
        for s in samples:
            y = torch.as_tensor(s.y, device=device)[None, None]
            M = torch.as_tensor(s.M, device=device)[None]
            if linear:
                out = net.linear(y, M, context=context)[0, 0].cpu().numpy()
            else:
                obs = None if s.observed is None else torch.as_tensor(s.observed, device=device)[None, None]
                out = net(y, M, context=context, observed=obs, body_dtype=body_dtype)[0, 0].cpu().numpy()
            out, ref = np.clip(out, 0, 1), s.x
            if s.observed is not None:
                keep = s.observed[context : context + ref.shape[0], context : context + ref.shape[1]] > 0
                out, ref = out[keep], ref[keep]
            scores.setdefault(s.family, []).append(_psnr(out, ref))
    net.train()
    return {f: float(np.mean(v)) for f, v in scores.items()}


def save_checkpoint(
    path: Path, net, opt, step: int, rng: np.random.Generator, cfg: dict, elapsed: float
) -> None:
    """Write model + optimiser + RNG state (atomic replace)."""
    state = {
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "elapsed": elapsed,
        "numpy_rng": json.dumps(rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
        "config": json.dumps(cfg),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def run_fit(cfg: dict[str, Any], resume: bool = False, log=print) -> Path:
    """Train according to ``cfg``; returns the run directory (holding checkpoint.pt, log.csv)."""
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    device = pick_device(cfg.get("device", "auto"))
    basis = load_basis(cfg["basis"])
    net_cfg = NetConfig.from_dict({**cfg.get("network", {}), "d": basis.d, "m": basis.m})
    torch.manual_seed(cfg["seed"])
    net = GLRANet(
        net_cfg,
        None if cfg.get("random_init") else basis.L,
        None if cfg.get("random_init") else basis.R,
        seed=cfg["seed"],
    ).to(device)
    if cfg.get("init_from") and not (resume and (out / CKPT).is_file()):
        log(
            init_from_model(
                net,
                cfg["init_from"],
                keep_basis=bool(cfg.get("init_keep_basis")),
                linear_only=bool(cfg.get("init_linear_only")),
            )
        )
        cfg = {**cfg, "init_model": describe_init(cfg["init_from"])}  # what it was at the time
    basis_params = [net.L, net.R]
    other = [p for n, p in net.named_parameters() if n not in ("L", "R")]
    opt = torch.optim.Adam(
        [
            {"params": other, "lr_scale": 1.0},
            {"params": basis_params, "lr_scale": cfg["basis_lr_scale"]},
        ],
        lr=cfg["lr"],
    )
    rng = np.random.default_rng(cfg["seed"])
    step, elapsed = 0, 0.0
    ckpt = out / CKPT
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed from {ckpt} at step {step}")
    elif resume:
        log(f"no checkpoint at {ckpt}; starting from scratch")

    source = cfg.get("source", "folder")
    val_source = cfg.get("val_source") or ("fluorescence" if source == "mixed" else source)
    train_dir, val_dir = cfg.get("train_dir"), cfg.get("val_dir")
    images = (
        load_images(train_dir, cfg.get("max_train_images"))
        if source != "fluorescence" and train_dir and Path(train_dir).is_dir()
        else None
    )
    val_imgs = (
        load_images(val_dir, cfg["val_images"])
        if val_source != "fluorescence" and val_dir and Path(val_dir).is_dir()
        else None
    )
    natural = f"{len(images)} images" if images else "dead leaves"
    train_text = {
        "folder": natural,
        "fluorescence": "synthetic fluorescence",
        "mixed": f"{natural} (p={cfg['p_natural']:g}) + synthetic fluorescence",
    }[source]
    val_text = (
        "synthetic fluorescence"
        if val_source == "fluorescence"
        else (f"{len(val_imgs)} images" if val_imgs else "dead leaves")
    )
    families = list(cfg.get("families") or basis.metadata.get("families") or FAMILIES)
    log(f"training images: {train_text}; validation: {val_text}; families {families}; device {device}")
    common = {
        "crop": cfg["crop"],
        "families": families,
        "kmax": cfg["kmax"],
        "balances": net_cfg.balances,
        "context": cfg["context"],
        "p_saturation": cfg["p_saturation"],
        "noise_model": cfg["noise_model"],
        "fluorescence": cfg.get("fluorescence") or {},
    }
    if cfg.get("amp") not in AMP_DTYPES:
        raise ValueError(f"amp must be null or 'bfloat16', got {cfg.get('amp')!r}")
    amp = AMP_DTYPES[cfg.get("amp")]
    p_border = float(cfg.get("p_border") or 0.0)
    degr = Degrader(
        basis,
        noise_range=(cfg["noise_min"], cfg["noise_max"]),
        source=source,
        p_natural=cfg["p_natural"],
        peak_range=tuple(cfg["peak_range"]),
        read_range=tuple(cfg["read_range"]),
        gain_range=tuple(cfg["gain_range"]),
        family_weights=cfg.get("family_weights"),
        p_border=p_border,
        **common,
    )
    ctx = int(cfg["context"])
    pg = cfg["noise_model"] == "poisson_gaussian"
    val_noise = cfg["val_read"] / cfg["val_peak"] if pg else cfg["val_noise"]

    def val_set(p: float, seed: int) -> list:
        """Fixed validation samples (``p``: fraction at an image border)."""
        d = Degrader(basis, source=val_source, p_border=p, **common)
        return validation_set(
            d, val_imgs, cfg["val_per_family"], val_noise, seed, peak=cfg["val_peak"] if pg else None
        )

    val = val_set(0.0, 1234)
    val_border = val_set(1.0, 4321) if p_border > 0 else []
    macs = macs_per_pixel(net_cfg)
    log(
        f"network: {count_parameters(net)} parameters, {macs['artifact_block']:.0f} spatial MAC/px, "
        f"{macs['fourier']:.0f} complex MAC per frequency; config {net_cfg.to_dict()}"
    )
    record = {
        **cfg,
        "network": net_cfg.to_dict(),
        "hardware": describe_hardware(device, int(cfg.get("workers") or 0)),
        "torch": torch.__version__,
    }
    write_run_config(out / "run_config.json", record, step if resume else 0)

    log_path = out / "log.csv"
    fams = list(degr.families)
    new_log = not (resume and log_path.is_file())
    logf = open(log_path, "w" if new_log else "a", newline="")
    writer = csv.writer(logf)
    if new_log:
        writer.writerow(
            ["step", "loss", *[f"val_{f}" for f in fams], *[f"linear_{f}" for f in fams], "seconds"]
            + [f"border_{f}" for f in fams if val_border]
        )
    lin = evaluate_samples(net, val, device, linear=True, context=ctx)
    log("linear block PSNR: " + ", ".join(f"{f} {v:.2f}" for f, v in lin.items()))
    if val_border and not (resume and step):
        b0 = evaluate_samples(net, val_border, device, context=ctx, body_dtype=amp)
        log("border samples at the start: " + ", ".join(f"{f} {v:.2f}" for f, v in b0.items()))

    from tqdm import tqdm

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    workers = int(cfg.get("workers") or 0)
    echo = int(cfg.get("echo") or 1)
    if echo < 1:
        raise ValueError(f"echo must be >= 1, got {echo}")
    stream = (  # batches made by worker processes (workers >= 1), else below in this process
        BatchStream(
            degr,
            train_dir if images is not None else None,
            cfg.get("max_train_images"),
            cfg["batch"],
            cfg["seed"],
            workers,
            start=step // echo,
        )
        if workers > 0
        else None
    )
    t_start = time.time() - elapsed
    deadline = t_start + 60 * cfg["max_minutes"] if cfg.get("max_minutes") else None
    losses: list[float] = []
    bar = tqdm(total=cfg["steps"], initial=step, desc="fit", mininterval=30, dynamic_ncols=True)
    net.train()
    batch = None
    while step < cfg["steps"]:
        lr = _lr_at(step, cfg, time.time() - t_start)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_scale"]
        if batch is None or step % echo == 0:  # echoed steps reuse the batch already on the device
            arrays = next(stream) if stream is not None else degr.batch_observed(images, cfg["batch"], rng)
            batch = tuple(torch.as_tensor(a, device=device) for a in arrays)
        y, x, M, obs = batch
        if p_border > 0:
            keep = obs[..., ctx : ctx + x.shape[-2], ctx : ctx + x.shape[-1]]
            err = (net(y, M, context=ctx, observed=obs, body_dtype=amp) - x).abs() * keep
            loss = err.sum() / keep.sum()
        else:
            loss = (net(y, M, context=ctx, body_dtype=amp) - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # Clip the basis filters and the rest separately: L and R get far larger gradients.
        torch.nn.utils.clip_grad_norm_(other, 1.0)
        torch.nn.utils.clip_grad_norm_(basis_params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        bar.update(1)
        last = step == cfg["steps"] or (deadline is not None and time.time() > deadline)
        if step % cfg["val_every"] == 0 or last:
            val_psnr = evaluate_samples(net, val, device, context=ctx, body_dtype=amp)
            border = (
                evaluate_samples(net, val_border, device, context=ctx, body_dtype=amp) if val_border else {}
            )
            writer.writerow(
                [
                    step,
                    f"{np.mean(losses):.6f}",
                    *[f"{val_psnr[f]:.3f}" for f in fams],
                    *[f"{lin[f]:.3f}" for f in fams],
                    f"{time.time() - t_start:.0f}",
                ]
                + [f"{border[f]:.3f}" for f in fams if border]
            )
            logf.flush()
            log(
                f"step {step}: loss {np.mean(losses):.5f} val "
                + ", ".join(f"{f} {v:.2f} ({v - lin[f]:+.2f})" for f, v in val_psnr.items())
                + ("; border " + ", ".join(f"{f} {v:.2f}" for f, v in border.items()) if border else "")
            )
            losses = []
            plot_curves(log_path, out / "curves.png")
        if step % cfg["checkpoint_every"] == 0 or last:
            save_checkpoint(ckpt, net, opt, step, rng, cfg, time.time() - t_start)
        if last:
            break
    bar.close()
    logf.close()
    if stream is not None:
        stream.close()  # (on an exception the daemonic workers end with this process)
    return out


def plot_curves(log_path: Path, png: Path) -> None:
    """PNG of training loss and validation PSNR per family from the CSV log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot(steps, [float(r["loss"]) for r in rows])
    a.set_xlabel("step")
    a.set_ylabel("L1 loss")
    for key in rows[0]:
        if key.startswith("val_"):
            fam = key[4:]
            (line,) = b.plot(steps, [float(r[key]) for r in rows], label=fam)
            b.plot(steps, [float(r[f"linear_{fam}"]) for r in rows], "--", color=line.get_color())
    b.set_xlabel("step")
    b.set_ylabel("validation PSNR (dB); dashed: linear block")
    b.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
