"""Model files: weights (safetensors) + JSON config + basis, and a loader that rebuilds the network.

A model directory holds

- ``weights.safetensors``: the state dict of :class:`~napari_glra.glra.network.GLRANet`
  (CPU, float32; never pickled);
- ``config.json``: ``{"format": 1, "name", "version", "network": NetConfig, ...}``
  plus free metadata (training summary, basis identity);
- ``basis.safetensors``: the GLRA basis used to compute ``M`` (see
  :mod:`napari_glra.glra.basis`);
- ``MODEL.md``: the model card (optional for loading).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_glra.glra.basis import Basis, load_basis, save_basis
from napari_glra.glra.network import GLRANet, NetConfig

__all__ = ["FORMAT_VERSION", "ModelFiles", "save_model", "load_model_dir", "basis_id"]

FORMAT_VERSION = 1
WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
BASIS = "basis.safetensors"


def basis_id(basis: Basis) -> str:
    """Short content hash of a basis (stored with the weights to catch mix-ups)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(basis.L, np.float32).tobytes())
    h.update(np.ascontiguousarray(basis.R, np.float32).tobytes())
    return h.hexdigest()[:16]


@dataclass
class ModelFiles:
    """A loaded model: the network (eval mode, CPU), its basis and its config."""

    net: GLRANet
    basis: Basis
    config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def name(self) -> str:
        """Model name from its config."""
        return str(self.config.get("name", self.path.name if self.path else "unnamed"))

    @property
    def version(self) -> str:
        """Model version from its config."""
        return str(self.config.get("version", "0"))


def save_model(
    directory: str | Path,
    net: GLRANet,
    basis: Basis,
    name: str,
    version: str = "1",
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a model directory (weights on CPU + config + basis).

    Parameters
    ----------
    directory : str or pathlib.Path
        Target directory (created).
    net : GLRANet
        The network.
    basis : Basis
        The basis its ``M`` coefficients are computed with.
    name, version : str
        Identity stored in the config.
    metadata : dict, optional
        Extra JSON-serialisable entries for ``config.json``.

    Returns
    -------
    pathlib.Path
        The directory.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(directory / WEIGHTS))
    save_basis(basis, directory / BASIS)
    config = {
        "format": FORMAT_VERSION,
        "name": name,
        "version": str(version),
        "network": net.config.to_dict(),
        "basis_id": basis_id(basis),
        **(metadata or {}),
    }
    (directory / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return directory


def load_model_dir(directory: str | Path) -> ModelFiles:
    """Rebuild a model from a directory written by :func:`save_model`.

    Parameters
    ----------
    directory : str or pathlib.Path
        The model directory.

    Returns
    -------
    ModelFiles
        Network in eval mode on the CPU, basis and config.

    Raises
    ------
    FileNotFoundError
        If a required file is missing.
    ValueError
        If the files do not match each other.
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    for fname in (WEIGHTS, CONFIG, BASIS):
        if not (directory / fname).is_file():
            raise FileNotFoundError(f"model directory {directory} has no {fname}")
    config = json.loads((directory / CONFIG).read_text())
    if config.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{directory / CONFIG}: model format {config.get('format')!r} is not supported "
            f"(this napari-glra reads format {FORMAT_VERSION})"
        )
    net_cfg = NetConfig.from_dict(config["network"])
    basis = load_basis(directory / BASIS)
    if (basis.d, basis.m) != (net_cfg.d, net_cfg.m):
        raise ValueError(
            f"{directory}: basis is {basis.d}x{basis.m} but the network expects {net_cfg.d}x{net_cfg.m}"
        )
    if config.get("basis_id") not in (None, basis_id(basis)):
        raise ValueError(f"{directory}: basis file does not match the one the weights were trained with")
    net = GLRANet(net_cfg)
    state = load_file(str(directory / WEIGHTS), device="cpu")
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{directory / WEIGHTS} does not fit its config: {err}") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return ModelFiles(net=net, basis=basis, config=config, path=directory)
