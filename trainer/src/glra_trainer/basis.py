"""``glra-train basis``: sample kernels, compute pseudo-inverses, fit GLRAM, report held-out error.

``families`` may hold any key of :data:`napari_glra.physics.kernels.KERNEL_RANGES`,
including ``"defocus"`` (widefield microscope PSFs).  The held-out relative
representation error is reported per family (and per noise level) and
compared with ``target_error``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from napari_glra import __version__ as core_version
from napari_glra.glra.basis import Basis, fit_glram, relative_error, save_basis
from napari_glra.glra.pseudo_inverse import REG_POWER, REG_SCALE, pseudo_inverse
from napari_glra.physics.kernels import KERNEL_RANGES, sample_kernel

from .config import BasisConfig

#: Default settings as a plain dict (the fields of :class:`glra_trainer.config.BasisConfig`).
DEFAULTS: dict[str, Any] = BasisConfig().model_dump()


def kernel_stack(
    families: list[str], n: int, noise_levels: list[float], d: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Unit-norm pseudo-inverses of ``n`` random kernels per family and noise level."""
    unknown = [f for f in families if f not in KERNEL_RANGES]
    if unknown:
        raise SystemExit(f"unknown kernel families {unknown}; choose from {sorted(KERNEL_RANGES)}")
    out = {}
    for fam in families:
        mats = []
        for _ in range(n):
            k, _ = sample_kernel(fam, rng)
            for s in noise_levels:
                kd = pseudo_inverse(k, size=d, noise_level=s)
                mats.append((kd / np.linalg.norm(kd)).astype(np.float32))
        out[fam] = np.stack(mats)
    return out


def run_basis(
    cfg: BasisConfig | Mapping[str, Any], log: Callable[[str], None] = print
) -> tuple[Basis, dict[str, float]]:
    """Fit and write a basis.

    Parameters
    ----------
    cfg : BasisConfig or mapping
        The ``[basis]`` settings (a mapping is validated; missing keys take their defaults).
    log : callable
        Receives the progress lines.

    Returns
    -------
    Basis
        The basis written to ``cfg.out``.
    dict
        Held-out relative representation error (RMS) per family.
    """
    cfg = BasisConfig.load(cfg)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.time()
    train = kernel_stack(cfg.families, cfg.kernels_per_family, cfg.noise_levels, cfg.d, rng)
    held = kernel_stack(cfg.families, cfg.heldout_per_family, cfg.noise_levels, cfg.d, rng)
    log(f"pseudo-inverses: {sum(len(v) for v in train.values())} train in {time.time() - t0:.0f}s")
    stack = np.concatenate(list(train.values()))
    L, R, errors = fit_glram(
        stack, cfg.m, cfg.iters, callback=lambda i, e: log(f"  GLRAM iter {i}: rel. error {e:.4f}")
    )
    heldout = {fam: float(np.sqrt(np.mean(relative_error(v, (L, R)) ** 2))) for fam, v in held.items()}
    per_noise = {}
    for fam, v in held.items():
        errs = relative_error(v, (L, R)).reshape(-1, len(cfg.noise_levels))
        per_noise[fam] = {
            str(s): float(np.sqrt(np.mean(errs[:, i] ** 2))) for i, s in enumerate(cfg.noise_levels)
        }
    target = cfg.target_error
    for fam, e in heldout.items():
        flag = "" if not target else ("  ok" if e <= target else f"  ABOVE the {100 * target:g} % target")
        log(f"held-out relative error {fam}: {100 * e:.2f} %{flag}  (per noise: {per_noise[fam]})")
    meta = {
        "version": core_version,
        "prior": "gradient",
        "reg_scale": REG_SCALE,
        "reg_power": REG_POWER,
        "families": {f: KERNEL_RANGES[f] for f in cfg.families},
        "noise_levels": cfg.noise_levels,
        "kernels_per_family": cfg.kernels_per_family,
        "train_error": errors[-1],
        "heldout_error": heldout,
        "heldout_error_per_noise": per_noise,
        "seed": cfg.seed,
    }
    basis = Basis(L, R, meta)
    out = Path(cfg.out)
    save_basis(basis, out)
    log(f"wrote {out} ({time.time() - t0:.0f}s)")
    return basis, heldout
