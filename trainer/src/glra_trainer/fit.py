"""``glra-train fit``: train a GLRANet with on-the-fly degradation, CSV log, curves, checkpoints."""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_glra.glra.basis import Basis, load_basis
from napari_glra.glra.network import GLRANet, NetConfig, count_parameters, macs_per_pixel
from napari_glra.metrics import psnr
from napari_glra.physics.kernels import FAMILIES

from .config import FitConfig
from .data import Degrader, load_images, validation_set
from .device import describe_hardware, pick_device
from .device_data import DeviceBatchStream
from .loader import BatchStream
from .losses import spectral_l1

#: Default settings as a plain dict (the fields of :class:`glra_trainer.config.FitConfig`); a run
#: recorded before a key existed had its default value (:func:`write_run_config`).
DEFAULTS: dict[str, Any] = FitConfig().model_dump()

CKPT = "checkpoint.pt"
#: Values of the ``amp`` option and the autocast dtype of each.
AMP_DTYPES: dict[str | None, torch.dtype | None] = {None: None, "bfloat16": torch.bfloat16}


#: Validation PSNR (dB) of a sample restored exactly (an MSE floor of 1e-12), so that a mean stays finite.
PSNR_CAP = 120.0
#: Steps of linear learning-rate warm-up.
WARMUP_STEPS = 100


def lr_at(step: int, cfg: FitConfig, elapsed: float = 0.0) -> float:
    """Learning rate of a step: linear warm-up, then cosine decay over the steps or the time budget.

    Parameters
    ----------
    step : int
        The step (from 0).
    cfg : FitConfig
        ``lr``, ``lr_min``, ``steps`` and ``max_minutes``.
    elapsed : float
        Seconds trained so far (the decay ends with ``steps`` or ``max_minutes``, whichever first).

    Returns
    -------
    float
        The learning rate (before each parameter group's ``lr_scale``).
    """
    warm = WARMUP_STEPS
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, cfg.steps - warm)
    if cfg.max_minutes:
        t = max(t, elapsed / (60 * cfg.max_minutes))
    t = min(1.0, t)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))


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
    net: GLRANet,
    source: str | Path,
    keep_basis: bool = False,
    linear_only: bool = False,
    *,
    grow_scale: float = 0.0,
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
    grow_scale : float
        Inputs added to the artifact block (feature maps, a border channel) start with this
        fraction of ``net``'s fresh weights for them (0: zero, the source's exact function).

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
    added = ""
    # A refiner may be added to a model without one: it starts fresh (about the source's function).
    refiner_added = net.config.refiner is not None and not any(k.startswith("refine.") for k in state)
    if old_cfg is not None:
        old = NetConfig.from_dict(old_cfg)
        diff = sorted(k for k in new_cfg if old_cfg.get(k, False) != new_cfg[k] and k != "refiner")
        if new_cfg.get("refiner") != old_cfg.get("refiner") and not refiner_added:
            diff.append("refiner")
        # Only adding a border channel or feature maps is allowed (their weights start at zero).
        grown = (net.config.border_channel or not old.border_channel) and not old.feature_maps
        if set(diff) - {"border_channel", "feature_maps", "feature_kernel"} or (diff and not grown):
            raise ValueError(f"init_from: network config of {source} differs in {diff}")
        if diff:
            state, added = _grow_inputs(state, old, net, grow_scale)
    if refiner_added:
        state = {**state, **{k: v for k, v in net.state_dict().items() if k.startswith("refine.")}}
        added += "; a fresh refiner added"
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


def _grow_inputs(state: dict, old: NetConfig, net: GLRANet, grow: float = 0.0) -> tuple[dict, str]:
    """``state`` of a network ``old`` widened to ``net``'s inputs (added ones: ``grow`` x fresh weights).

    The artifact block's first convolution reads the channels pixel-unshuffled (``scale²``
    inputs per channel, channel-major).  New feature maps go after the mixes, the border channel
    last, their weights there ``grow`` times ``net``'s fresh ones (zero by default); the feature
    maps' own convolutions keep ``net``'s fresh initialisation.  With ``grow = 0`` the grown
    network computes the same function as ``old``.
    """
    c = net.config
    key = "body.head.0.weight" if c.levels else "body.0.weight"
    first, s2 = state[key], c.scale * c.scale
    kept = len(c.balances) + c.n_mix
    grown = net.state_dict()[key].detach().to(first.device, first.dtype) * grow
    grown[:, : kept * s2] = first[:, : kept * s2]
    if old.border_channel:
        grown[:, -s2:] = first[:, -s2:]
    state = {**state, key: grown}
    state.update({k: v for k, v in net.state_dict().items() if k.startswith("lift.")})
    what = [f"{c.feature_maps} feature maps"] * bool(c.feature_maps) + ["border channel"] * (
        c.border_channel and not old.border_channel
    )
    how = "zero weights" if grow == 0 else f"{grow:g} x fresh weights"
    return state, f"; {' and '.join(what)} added with {how}"


def freeze_parameters(net: torch.nn.Module, names: list[str]) -> int:
    """Stop training the parameters named (or prefixed, ``"body"`` for ``body.*``) by ``names``.

    Returns the number of values frozen; a name that matches no parameter is a ``ValueError``
    that lists the network's parameter groups.
    """
    params = dict(net.named_parameters())
    count = 0
    for name in names:
        hit = [p for n, p in params.items() if n == name or n.startswith(name + ".")]
        if not hit:
            groups = sorted({n.split(".")[0] for n in params})
            raise ValueError(f"fit.freeze: {name!r} names no parameter of this network (groups: {groups})")
        for p in hit:
            count += p.numel() * p.requires_grad
            p.requires_grad_(False)
    if count == sum(p.numel() for p in params.values()):
        raise ValueError(f"fit.freeze: {names} freezes every parameter: nothing would train")
    return count


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
            scores.setdefault(s.family, []).append(min(psnr(out, ref), PSNR_CAP))
    net.train()
    return {f: float(np.mean(v)) for f, v in scores.items()}


def save_checkpoint(
    path: Path,
    net: GLRANet,
    opt: torch.optim.Optimizer,
    step: int,
    rng: np.random.Generator,
    cfg: dict[str, Any],
    elapsed: float,
) -> None:
    """Write model + optimiser + RNG state and the run's settings ``cfg`` (a plain dict; atomic replace)."""
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


@dataclass
class TrainingState:
    """What a run trains and where it stands: the network, its optimiser, the step and the random state.

    Made by :func:`setup_training`; :func:`train` moves it on.
    """

    net: GLRANet
    net_cfg: NetConfig
    basis: Basis
    device: torch.device
    opt: torch.optim.Optimizer
    #: The basis filters L, R (their own learning-rate scale and gradient clipping).
    basis_params: list[torch.nn.Parameter]
    #: Every other parameter.
    other_params: list[torch.nn.Parameter]
    #: Draws the training batches made in this process (``workers = 0``).
    rng: np.random.Generator
    step: int = 0
    #: Seconds trained before this process (a resumed run's).
    elapsed: float = 0.0
    #: How the network was initialised (``init_from`` as the model card names it), when it was.
    init_model: str | None = None


@dataclass
class TrainingData:
    """Where a run's batches come from and what it is validated on.  Made by :func:`make_data`."""

    degrader: Degrader
    #: Training images (None: dead leaves or synthetic fluorescence only).
    images: list[np.ndarray] | None
    #: Fixed validation samples.
    val: list
    #: Fixed validation samples at an image border ([] without ``p_border``).
    val_border: list


def setup_training(cfg: FitConfig, ckpt: Path, resume: bool, log: Callable[[str], None]) -> TrainingState:
    """Device, seed, network (and ``init_from``), optimiser, and the checkpoint's state when resuming.

    Parameters
    ----------
    cfg : FitConfig
        The run's settings.
    ckpt : pathlib.Path
        The run's checkpoint (read when ``resume`` and it exists).
    resume : bool
        Continue from the checkpoint.
    log : callable
        Receives the progress lines.

    Returns
    -------
    TrainingState
        At step 0, or at the checkpoint's step with its weights, optimiser and random state.
    """
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    device = pick_device(cfg.device)
    basis = load_basis(cfg.basis)
    net_cfg = NetConfig.from_dict({**cfg.network.model_dump(), "d": basis.d, "m": basis.m})
    torch.manual_seed(cfg.seed)
    net = GLRANet(
        net_cfg,
        None if cfg.random_init else basis.L,
        None if cfg.random_init else basis.R,
        seed=cfg.seed,
    ).to(device)
    init_model = None
    if cfg.init_from and not (resume and ckpt.is_file()):
        log(
            init_from_model(
                net,
                cfg.init_from,
                keep_basis=cfg.init_keep_basis,
                linear_only=cfg.init_linear_only,
                grow_scale=cfg.init_grow_scale,
            )
        )
        init_model = describe_init(cfg.init_from)  # what it was at the time
    frozen = freeze_parameters(net, cfg.freeze)
    if frozen:
        log(f"frozen (not trained): {frozen} parameters of {', '.join(cfg.freeze)}")
    basis_params = [p for p in (net.L, net.R) if p.requires_grad]
    other = [p for n, p in net.named_parameters() if n not in ("L", "R") and p.requires_grad]
    groups = [{"params": other, "lr_scale": 1.0}, {"params": basis_params, "lr_scale": cfg.basis_lr_scale}]
    opt = torch.optim.Adam([g for g in groups if g["params"]], lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    state = TrainingState(net, net_cfg, basis, device, opt, basis_params, other, rng, init_model=init_model)
    if resume and ckpt.is_file():
        saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        state.step, state.elapsed = int(saved["step"]), float(saved["elapsed"])
        state.rng.bit_generator.state = json.loads(saved["numpy_rng"])
        torch.set_rng_state(saved["torch_rng"])
        log(f"resumed from {ckpt} at step {state.step}")
    elif resume:
        log(f"no checkpoint at {ckpt}; starting from scratch")
    return state


def make_data(cfg: FitConfig, state: TrainingState, log: Callable[[str], None]) -> TrainingData:
    """Training images, the degradation of the training batches and the fixed validation samples.

    Parameters
    ----------
    cfg : FitConfig
        The run's settings.
    state : TrainingState
        The run (its basis, network config and device).
    log : callable
        Receives a line on the images, families and device.

    Returns
    -------
    TrainingData
    """
    basis = state.basis
    source = cfg.source
    val_source = cfg.val_source or ("fluorescence" if source == "mixed" else source)
    train_dir, val_dir = cfg.train_dir, cfg.val_dir
    images = (
        load_images(train_dir, cfg.max_train_images)
        if source != "fluorescence" and train_dir and Path(train_dir).is_dir()
        else None
    )
    val_imgs = (
        load_images(val_dir, cfg.val_images)
        if val_source != "fluorescence" and val_dir and Path(val_dir).is_dir()
        else None
    )
    natural = f"{len(images)} images" if images else "dead leaves"
    train_text = {
        "folder": natural,
        "fluorescence": "synthetic fluorescence",
        "mixed": f"{natural} (p={cfg.p_natural:g}) + synthetic fluorescence",
    }[source]
    val_text = (
        "synthetic fluorescence"
        if val_source == "fluorescence"
        else (f"{len(val_imgs)} images" if val_imgs else "dead leaves")
    )
    families = list(cfg.families or basis.metadata.get("families") or FAMILIES)
    log(f"training images: {train_text}; validation: {val_text}; families {families}; device {state.device}")
    common = {
        "crop": cfg.crop,
        "families": families,
        "kmax": cfg.kmax,
        "balances": state.net_cfg.balances,
        "context": cfg.context,
        "p_saturation": cfg.p_saturation,
        "noise_model": cfg.noise_model,
        "fluorescence": cfg.fluorescence or {},
    }
    degrader = Degrader(
        basis,
        noise_range=(cfg.noise_min, cfg.noise_max),
        source=source,
        p_natural=cfg.p_natural,
        peak_range=tuple(cfg.peak_range),
        read_range=tuple(cfg.read_range),
        gain_range=tuple(cfg.gain_range),
        family_weights=cfg.family_weights,
        p_border=cfg.p_border,
        p_brightness=cfg.p_brightness,
        brightness_range=tuple(cfg.brightness_range),
        offset_range=tuple(cfg.offset_range),
        kernel_ranges=cfg.kernel_ranges,  # training only: validation keeps the standard ranges
        **common,
    )
    pg = cfg.noise_model == "poisson_gaussian"
    val_noise = cfg.val_read / cfg.val_peak if pg else cfg.val_noise

    def val_set(p: float, seed: int) -> list:
        """Fixed validation samples (``p``: fraction at an image border)."""
        d = Degrader(basis, source=val_source, p_border=p, **common)
        return validation_set(
            d, val_imgs, cfg.val_per_family, val_noise, seed, peak=cfg.val_peak if pg else None
        )

    val = val_set(0.0, 1234)
    val_border = val_set(1.0, 4321) if cfg.p_border > 0 else []
    return TrainingData(degrader, images, val, val_border)


class TrainingLog:
    """The run's ``log.csv`` (one row per validation) and its ``curves.png``.

    Parameters
    ----------
    path : pathlib.Path
        ``log.csv`` (``curves.png`` goes beside it).
    families : list of str
        The kernel families (a validation column each).
    border : bool
        Add the border validation columns.
    append : bool
        Continue an existing log (a resumed run) instead of starting one.
    """

    def __init__(self, path: Path, families: list[str], border: bool, append: bool) -> None:
        self.path, self.families = path, families
        self.file = open(path, "a" if append else "w", newline="")
        self.writer = csv.writer(self.file)
        if not append:
            val, linear = [f"val_{f}" for f in families], [f"linear_{f}" for f in families]
            self.writer.writerow(
                ["step", "loss", *val, *linear, "seconds"] + [f"border_{f}" for f in families if border]
            )

    def write(
        self,
        step: int,
        loss: float,
        val: dict[str, float],
        linear: dict[str, float],
        seconds: float,
        border: dict[str, float],
    ) -> None:
        """Add a validation row and redraw the curves."""
        fams = self.families
        self.writer.writerow(
            [
                step,
                f"{loss:.6f}",
                *[f"{val[f]:.3f}" for f in fams],
                *[f"{linear[f]:.3f}" for f in fams],
                f"{seconds:.0f}",
            ]
            + [f"{border[f]:.3f}" for f in fams if border]
        )
        self.file.flush()
        plot_curves(self.path, self.path.parent / "curves.png")

    def close(self) -> None:
        """Close the file."""
        self.file.close()


def training_step(
    state: TrainingState, batch: tuple[torch.Tensor, ...], cfg: FitConfig, amp: torch.dtype | None
) -> float:
    """One optimiser step on a batch; returns its loss.

    The loss is the L1 error, or with ``pixel_loss = "l2"`` the squared error (on observed pixels only
    with ``p_border``), plus ``fft_loss`` times the
    mean modulus of the error's orthonormal 2D Fourier transform (:func:`.losses.spectral_l1`, weighted
    by ``fft_weight``).
    """
    net, ctx = state.net, cfg.context
    y, x, M, obs = batch
    if cfg.p_border > 0:
        keep = obs[..., ctx : ctx + x.shape[-2], ctx : ctx + x.shape[-1]]
        err = (net(y, M, context=ctx, observed=obs, body_dtype=amp) - x) * keep
    else:
        err = net(y, M, context=ctx, body_dtype=amp) - x
        keep = None
    pixel = err.square() if cfg.pixel_loss == "l2" else err.abs()
    loss = pixel.mean() if keep is None else pixel.sum() / keep.sum()
    if cfg.fft_loss > 0:
        loss = loss + cfg.fft_loss * spectral_l1(err, x, cfg.fft_weight)
    state.opt.zero_grad(set_to_none=True)
    loss.backward()
    # Clip the basis filters and the rest separately: L and R get far larger gradients.
    torch.nn.utils.clip_grad_norm_(state.other_params, 1.0)
    torch.nn.utils.clip_grad_norm_(state.basis_params, 1.0)
    state.opt.step()
    return float(loss.detach())


def validate(
    state: TrainingState, data: TrainingData, cfg: FitConfig, amp: torch.dtype | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean validation PSNR per family, on the validation samples and on the border samples ({} without)."""
    val = evaluate_samples(state.net, data.val, state.device, context=cfg.context, body_dtype=amp)
    border = (
        evaluate_samples(state.net, data.val_border, state.device, context=cfg.context, body_dtype=amp)
        if data.val_border
        else {}
    )
    return val, border


def batch_stream(
    cfg: FitConfig, state: TrainingState, data: TrainingData
) -> BatchStream | DeviceBatchStream | None:
    """Where :func:`train` takes its batches from, starting at the batch of ``state.step``.

    ``data_on_device``: a :class:`~glra_trainer.device_data.DeviceBatchStream` (degraded on the training
    device; planned by ``workers`` processes or this one); else ``workers >= 1``: a
    :class:`~glra_trainer.loader.BatchStream`; else None (:func:`train` draws each batch in this process
    from ``state.rng``).
    """
    folder = cfg.train_dir if data.images is not None else None
    start = state.step // cfg.echo
    if cfg.data_on_device:
        return DeviceBatchStream(
            data.degrader,
            data.images,
            folder,
            cfg.max_train_images,
            cfg.batch,
            cfg.seed,
            cfg.workers,
            state.device,
            start=start,
        )
    if cfg.workers > 0:
        return BatchStream(
            data.degrader, folder, cfg.max_train_images, cfg.batch, cfg.seed, cfg.workers, start=start
        )
    return None


def train(
    cfg: FitConfig,
    state: TrainingState,
    data: TrainingData,
    linear: dict[str, float],
    training_log: TrainingLog,
    ckpt: Path,
    record: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    """The training loop: from ``state.step`` to ``cfg.steps`` (or the time budget).

    Validates every ``val_every`` steps and checkpoints every ``checkpoint_every`` steps, and both
    at the last step.

    Parameters
    ----------
    cfg : FitConfig
        The run's settings.
    state : TrainingState
        Moved on in place.
    data : TrainingData
        Batches and validation samples.
    linear : dict
        Validation PSNR per family of the linear block at the start (logged beside the network's).
    training_log : TrainingLog
        Receives a row per validation.
    ckpt : pathlib.Path
        The checkpoint to write.
    record : dict
        The run's settings as the checkpoint stores them.
    log : callable
        Receives the progress lines.
    """
    from tqdm import tqdm

    if state.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    amp = AMP_DTYPES[cfg.amp]
    echo = cfg.echo
    stream = batch_stream(cfg, state, data)
    t_start = time.time() - state.elapsed
    deadline = t_start + 60 * cfg.max_minutes if cfg.max_minutes else None
    losses: list[float] = []
    bar = tqdm(total=cfg.steps, initial=state.step, desc="fit", mininterval=30, dynamic_ncols=True)
    state.net.train()
    batch = None
    while state.step < cfg.steps:
        lr = lr_at(state.step, cfg, time.time() - t_start)
        for g in state.opt.param_groups:
            g["lr"] = lr * g["lr_scale"]
        if batch is None or state.step % echo == 0:  # echoed steps reuse the batch already on the device
            arrays = (  # (numpy arrays, or tensors on the device with data_on_device)
                next(stream)
                if stream is not None
                else data.degrader.batch_observed(data.images, cfg.batch, state.rng)
            )
            batch = tuple(torch.as_tensor(a, device=state.device) for a in arrays)
        losses.append(training_step(state, batch, cfg, amp))
        state.step += 1
        bar.update(1)
        step = state.step
        last = step == cfg.steps or (deadline is not None and time.time() > deadline)
        if step % cfg.val_every == 0 or last:
            val_psnr, border = validate(state, data, cfg, amp)
            training_log.write(step, np.mean(losses), val_psnr, linear, time.time() - t_start, border)
            log(
                f"step {step}: loss {np.mean(losses):.5f} val "
                + ", ".join(f"{f} {v:.2f} ({v - linear[f]:+.2f})" for f, v in val_psnr.items())
                + ("; border " + ", ".join(f"{f} {v:.2f}" for f, v in border.items()) if border else "")
            )
            losses = []
        if step % cfg.checkpoint_every == 0 or last:
            save_checkpoint(ckpt, state.net, state.opt, step, state.rng, record, time.time() - t_start)
        if last:
            break
    bar.close()
    if stream is not None:
        stream.close()  # (on an exception the daemonic workers end with this process)


def run_fit(
    cfg: FitConfig | Mapping[str, Any], resume: bool = False, log: Callable[[str], None] = print
) -> Path:
    """Train according to ``cfg``: set up, make the data, train (validating and checkpointing).

    Parameters
    ----------
    cfg : FitConfig or mapping
        The ``[fit]`` settings (a mapping is validated; missing keys take their defaults).
    resume : bool
        Continue from the run's checkpoint (and append to its log) when it has one.
    log : callable
        Receives the progress lines.

    Returns
    -------
    pathlib.Path
        The run directory (holding checkpoint.pt, log.csv, curves.png and run_config.json).
    """
    cfg = FitConfig.load(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CKPT
    state = setup_training(cfg, ckpt, resume, log)
    data = make_data(cfg, state, log)
    macs = macs_per_pixel(state.net_cfg)
    log(
        f"network: {count_parameters(state.net)} parameters, {macs['artifact_block']:.0f} spatial MAC/px, "
        f"{macs['fourier']:.0f} complex MAC per frequency; config {state.net_cfg.to_dict()}"
    )
    # The settings as run: the config, and how the network was initialised when it was.
    record = cfg.model_dump()
    if state.init_model:
        record["init_model"] = state.init_model
    run_record = {
        **record,
        "network": state.net_cfg.to_dict(),
        "hardware": describe_hardware(state.device, cfg.workers),
        "torch": torch.__version__,
    }
    write_run_config(out / "run_config.json", run_record, state.step if resume else 0)

    log_path = out / "log.csv"
    training_log = TrainingLog(
        log_path,
        list(data.degrader.families),
        border=bool(data.val_border),
        append=resume and log_path.is_file(),
    )
    amp = AMP_DTYPES[cfg.amp]
    linear = evaluate_samples(state.net, data.val, state.device, linear=True, context=cfg.context)
    log("linear block PSNR: " + ", ".join(f"{f} {v:.2f}" for f, v in linear.items()))
    if data.val_border and not (resume and state.step):
        b0 = evaluate_samples(state.net, data.val_border, state.device, context=cfg.context, body_dtype=amp)
        log("border samples at the start: " + ", ".join(f"{f} {v:.2f}" for f, v in b0.items()))
    train(cfg, state, data, linear, training_log, ckpt, record, log)
    training_log.close()
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
