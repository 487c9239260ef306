"""One network call: a kernel's coefficients and the restoration of planes already on the [0, 1] scale.

:func:`kernel_coefficients` gives the network's ``M`` for a kernel (once per run);
:func:`restore_batch` runs the network on a batch of same-sized planes or tiles (the
engine, :mod:`napari_glra.engine.execute`, calls it per tile of the border-extended
plane, telling it which pixels are observed); :func:`restore_plane` is the bare
network with its own mirror padding, for diagnostics such as the GLRA linear block
(the trainer's evaluation and the benchmarks' ablation rows).  Users restore through
:func:`napari_glra.api.deconvolve`.
"""

from __future__ import annotations

import numpy as np
import torch

from napari_glra.glra.model_io import ModelFiles

__all__ = ["kernel_coefficients", "restore_plane", "restore_batch", "run_network"]


def kernel_coefficients(
    model: ModelFiles, kernel: np.ndarray, noise_level: float
) -> tuple[np.ndarray, float]:
    """Network input ``M`` of a (prepared) kernel for a model, and its relative GLRA error.

    Parameters
    ----------
    model : ModelFiles
        Loaded model (its basis and ``network.balances`` are used).
    kernel : numpy.ndarray
        Prepared 2D kernel (odd size, sum 1), at most ``basis.d`` wide.
    noise_level : float
        Noise standard deviation on the [0, 1] scale.

    Returns
    -------
    M : numpy.ndarray
        ``(S, m, m)`` coefficients, one per balance of the network's config.
    error : float
        ``‖k† - L M Rᵀ‖ / ‖k†‖`` at the noise-matched balance.
    """
    return model.basis.balanced_coefficients(kernel, noise_level, tuple(model.net.config.balances))


def restore_batch(
    model: ModelFiles,
    planes: np.ndarray,
    M: np.ndarray,
    device: str | torch.device = "cpu",
    linear_only: bool = False,
    *,
    context: int | tuple[int, int, int, int] = 0,
    observed: np.ndarray | None = None,
    body_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Run the network on a batch of same-sized planes.

    Parameters
    ----------
    model : ModelFiles
        Loaded model; its network must already be on ``device``.
    planes : numpy.ndarray
        ``(B, H, W)`` blurred planes on the [0, 1] scale.
    M : numpy.ndarray
        Coefficients from :func:`kernel_coefficients`: ``(S, m, m)`` (or ``(m, m)``)
        shared by the batch, or ``(B, S, m, m)`` per plane.
    device : str or torch.device
        Where to run.
    linear_only : bool
        Return the GLRA linear block's output instead of the network's.
    context : int or tuple of 4 int
        Pixels per side (or ``(top, bottom, left, right)``) of the planes that are
        context only: the output is the centre without them.
    observed : numpy.ndarray, optional
        ``(B, H, W)`` mask, 1 on observed pixels and 0 on extended ones (for models
        with a border channel; ignored by the others).
    body_dtype : torch.dtype, optional
        Autocast dtype of the artifact block (see :func:`napari_glra.engine.devices.resolve_precision`).

    Returns
    -------
    numpy.ndarray
        ``(B, H - 2 context, W - 2 context)`` float32 restorations.
    """
    planes = np.asarray(planes, dtype=np.float32)
    y = torch.as_tensor(planes, device=device)
    obs = None if observed is None else torch.as_tensor(np.asarray(observed, np.float32), device=device)
    out = run_network(
        model, y, M, context=context, observed=obs, body_dtype=body_dtype, linear_only=linear_only
    )
    return out.float().cpu().numpy()


def run_network(
    model: ModelFiles,
    y: torch.Tensor,
    M: np.ndarray,
    *,
    context: int | tuple[int, int, int, int] = 0,
    observed: torch.Tensor | None = None,
    body_dtype: torch.dtype | None = None,
    linear_only: bool = False,
) -> torch.Tensor:
    """:func:`restore_batch` on tensors, on the network's device (no host copy).

    ``(B, H, W)`` float32 planes in, ``(B, H', W')`` restorations out.
    """
    B = y.shape[0]
    Mt = torch.as_tensor(np.asarray(M, dtype=np.float32), device=y.device)
    if Mt.ndim == 2:
        Mt = Mt[None]
    if Mt.ndim == 3:
        Mt = Mt.expand(B, -1, -1, -1)
    obs = None if observed is None else observed[:, None]
    with torch.inference_mode():
        if linear_only:
            out = model.net.linear(y[:, None], Mt, context=context)
        else:
            out = model.net(y[:, None], Mt, context=context, observed=obs, body_dtype=body_dtype)
    return out[:, 0]


def restore_plane(
    model: ModelFiles,
    plane: np.ndarray,
    kernel: np.ndarray,
    noise_level: float,
    device: str | torch.device = "cpu",
    linear_only: bool = False,
) -> np.ndarray:
    """Restore one 2D plane (values on the [0, 1] scale) with a model.

    Parameters
    ----------
    model : ModelFiles
        Loaded model (network on ``device``).
    plane : numpy.ndarray
        2D blurred image.
    kernel : numpy.ndarray
        Prepared kernel.
    noise_level : float
        Noise standard deviation on the [0, 1] scale.
    device : str or torch.device
        Where to run.
    linear_only : bool
        Return the GLRA linear block's output only.

    Returns
    -------
    numpy.ndarray
        Restored float32 plane, same shape.
    """
    M, _ = kernel_coefficients(model, kernel, noise_level)
    return restore_batch(model, np.asarray(plane)[None], M, device, linear_only)[0]
