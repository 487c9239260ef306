"""Training losses on the restoration error: the Fourier-domain terms added to the pixel L1 loss."""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["ring_weights", "spectral_l1"]


def ring_weights(x: torch.Tensor) -> torch.Tensor:
    """Per-frequency weights ``1 / amplitude`` of the targets' ring-averaged spectrum, mean 1.

    Parameters
    ----------
    x : torch.Tensor
        Targets, shape ``(..., H, W)``.

    Returns
    -------
    torch.Tensor
        Shape ``(H, W // 2 + 1)``, on the half-plane of :func:`torch.fft.rfft2`: for each frequency,
        one over the root mean power of the targets' ring (rings one cycle per image wide, as in
        :func:`napari_glra.metrics.ring_snr`), floored at 1 % of the strongest non-zero ring's
        amplitude, and scaled to a mean of 1.  A spectral error times these weights is the error
        relative to the signal at each frequency: what a ring-SNR resolution measures.
    """
    h, w = x.shape[-2:]
    spectrum = torch.fft.rfft2(x.detach().float(), norm="ortho")
    power = spectrum.abs().square().reshape(-1, h, w // 2 + 1).mean(0)
    rad = torch.hypot(torch.fft.fftfreq(h, device=x.device)[:, None], torch.fft.rfftfreq(w, device=x.device))
    ring = torch.round(rad * min(h, w)).long()
    n = int(ring.max()) + 1
    total = torch.zeros(n, device=x.device).index_add_(0, ring.ravel(), power.ravel())
    count = torch.bincount(ring.ravel(), minlength=n).clamp(min=1)
    amplitude = (total / count).sqrt()
    floor = 0.01 * amplitude[1:].max() if n > 1 else amplitude.max()
    weights = 1.0 / amplitude.clamp(min=max(float(floor), 1e-12))[ring]
    return weights / weights.mean()


def spectral_l1(
    err: torch.Tensor, x: torch.Tensor, weight: Literal["flat", "relative"] = "flat"
) -> torch.Tensor:
    """Mean modulus of the error's orthonormal 2D Fourier transform.

    Parameters
    ----------
    err : torch.Tensor
        Restoration error, shape ``(..., H, W)``.
    x : torch.Tensor
        Targets, same shape: with ``weight="relative"`` each frequency's modulus is weighted by
        :func:`ring_weights` of the targets (the batch's own spectrum, not differentiated).
    weight : {"flat", "relative"}
        ``"flat"``: every frequency alike; ``"relative"``: relative to the signal in its ring.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    modulus = torch.fft.rfft2(err.float(), norm="ortho").abs()
    if weight == "relative":
        modulus = modulus * ring_weights(x)
    elif weight != "flat":
        raise ValueError(f"weight must be 'flat' or 'relative', got {weight!r}")
    return modulus.mean()
