"""Model files: weights (safetensors) + JSON config + basis, and a loader that rebuilds the network.

A model directory holds

- ``weights.safetensors``: the state dict of :class:`~napari_glra.glra.network.GLRANet`
  (CPU, float32; never pickled);
- ``config.json``: ``{"format": 1, "name", "version", "basis_id", "network": NetConfig, ...}``
  plus free metadata (training summary, basis description); every field is checked
  (:func:`check_config`) before anything is built, and ``basis_id`` (the content hash of
  the basis the weights were trained with, :func:`basis_id`) must match the basis file;
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

__all__ = ["FORMAT_VERSION", "ModelFiles", "basis_id", "check_config", "load_model_dir", "save_model"]

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


#: Largest ``config.json`` read (bytes); the shipped ones are a few kB.
MAX_CONFIG_BYTES = 4 * 2**20


def _read_config(path: Path) -> dict[str, Any]:
    """The parsed ``config.json`` (a dict), or a ``ValueError`` naming the file."""
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(
            f"{path} is {size:,} bytes; a model config is a small JSON file (< {MAX_CONFIG_BYTES:,})"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); re-export the model or restore the file"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(
            f"{path} must hold a JSON object (a model config), got a JSON {type(config).__name__}"
        )
    return config


def check_config(config: dict[str, Any], where: str | Path = CONFIG) -> NetConfig:
    """Check a model config's fields and return its network configuration.

    ``format`` must be :data:`FORMAT_VERSION`; ``name`` a non-empty string; ``version`` a
    non-empty string or an integer; ``basis_id`` the 16-hex-digit :func:`basis_id` of the basis
    the weights were trained with; ``network`` the fields of
    :class:`~napari_glra.glra.network.NetConfig`, each type- and range-checked
    (:meth:`~napari_glra.glra.network.NetConfig.from_dict`).  Other entries are free metadata.

    Parameters
    ----------
    config : dict
        The parsed ``config.json``.
    where : str or pathlib.Path
        The file, for the messages.

    Returns
    -------
    NetConfig
        The network configuration (nothing is built).

    Raises
    ------
    ValueError
        If a field is missing, of the wrong type or out of range; the message names it.
    """
    if not isinstance(config, dict):
        raise ValueError(
            f"{where} must hold a JSON object (a model config), got a JSON {type(config).__name__}"
        )
    fmt = config.get("format")
    if isinstance(fmt, bool) or fmt != FORMAT_VERSION:
        raise ValueError(
            f"{where}: model format {fmt!r} is not supported (this napari-glra reads format {FORMAT_VERSION})"
        )
    name = config.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValueError(
            f"{where}: name must be a non-empty string (at most 200 characters), got {name!r:.80}"
        )
    version = config.get("version")
    if isinstance(version, bool) or not (
        (isinstance(version, str) and version.strip() and len(version) <= 100) or isinstance(version, int)
    ):
        raise ValueError(f"{where}: version must be a non-empty string or an integer, got {version!r:.80}")
    bid = config.get("basis_id")
    if bid is None:
        raise ValueError(
            f"{where} has no basis_id (the identity of the basis the weights were trained with), so the "
            f"{BASIS} beside it cannot be checked; re-export the model "
            "(napari_glra.glra.model_io.save_model, or glra-train export) to record it"
        )
    if not isinstance(bid, str) or len(bid) != 16 or any(ch not in "0123456789abcdef" for ch in bid):
        raise ValueError(f"{where}: basis_id must be a 16-digit lowercase hex string, got {bid!r:.80}")
    if "network" not in config:
        raise ValueError(f"{where} has no network entry (the NetConfig fields); re-export the model")
    try:
        return NetConfig.from_dict(config["network"])
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors of a safetensors file (header only: nothing is loaded)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err}); re-export the model") from None


def load_model_dir(directory: str | Path) -> ModelFiles:
    """Rebuild a model from a directory written by :func:`save_model`.

    Everything is checked before the network is built: the config's fields
    (:func:`check_config`), the basis's size and identity (``basis_id``) and the names
    and shapes of the weight tensors.

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
        If ``config.json`` is not valid JSON or a field is missing, of the wrong type or
        out of range (the message names it; a config without ``basis_id`` must be
        re-exported), or if the files do not match each other (another basis, a weight
        tensor of the wrong shape, missing or extra tensors, NaN or inf weights).
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    for fname in (WEIGHTS, CONFIG, BASIS):
        if not (directory / fname).is_file():
            raise FileNotFoundError(f"model directory {directory} has no {fname}")
    config = _read_config(directory / CONFIG)
    net_cfg = check_config(config, directory / CONFIG)

    shapes = _tensor_shapes(directory / BASIS)
    want = (net_cfg.d, net_cfg.m)
    if shapes.get("L") != want or shapes.get("R") != want:
        got = (
            f"L {shapes.get('L')}, R {shapes.get('R')}"
            if {"L", "R"} <= set(shapes)
            else f"tensors {sorted(shapes)}"
        )
        raise ValueError(
            f"{directory}: basis is {got} but the network expects {net_cfg.d}x{net_cfg.m} "
            f"(L and R of shape {want})"
        )
    basis = load_basis(directory / BASIS)
    if config["basis_id"] != basis_id(basis):
        raise ValueError(
            f"{directory}: {BASIS} does not match the one the weights were trained with (basis_id "
            f"{basis_id(basis)}, config.json says {config['basis_id']}); restore the model's own basis file"
        )

    net = GLRANet(net_cfg)
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    stored = _tensor_shapes(directory / WEIGHTS)
    missing, extra = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
    if missing or extra:
        raise ValueError(
            f"{directory / WEIGHTS} does not fit its config: missing tensors {missing}, "
            f"unexpected tensors {extra}"
        )
    for k, shape in expected.items():
        if stored[k] != shape:
            raise ValueError(
                f"{directory / WEIGHTS} does not fit its config: tensor {k!r} has shape {stored[k]}, "
                f"the network in config.json needs {shape}"
            )
    state = load_file(str(directory / WEIGHTS), device="cpu")
    bad = [k for k, v in state.items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{directory / WEIGHTS}: tensors {bad} contain NaN or inf; re-export the model")
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{directory / WEIGHTS} does not fit its config: {err}") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return ModelFiles(net=net, basis=basis, config=config, path=directory)
