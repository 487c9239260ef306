"""Training batches degraded on the training device (``fit`` option ``data_on_device``).

The numpy path (:meth:`glra_trainer.data.Degrader.batch_observed`) makes every sample on a CPU
core; with the shipped recipe (crop 128, context 64, ``kmax`` 45, four balances, a d = 151
basis) one sample takes 15-30 ms of one core (the shared 2-core development machine): 6-9 ms
for the blur, saturation and noise, ~16 ms for ``M`` (four regularised pseudo-inverses, a
320 x 320 FFT pair each: the larger part), ~1 ms for the kernel and 0.02 ms for the crop.
With ``data_on_device`` a batch is made in two parts:

- on the CPU, :func:`plan_batch` draws what is cheap to draw: the sharp patches (crops of the
  image folder, dead leaves or fluorescence images), families, kernels (zero-padded to
  ``kmax``), noise parameters, saturation flags and border draws, from the generator of the
  batch's step (:func:`glra_trainer.loader.step_rng` ``(seed, step)``), in the training process
  (``workers = 0``) or in worker processes (``workers >= 1``, a
  :class:`~glra_trainer.loader.BatchStream` running :func:`make_plan`);
- on the training device, :class:`DeviceDegrader` does the rest as batched torch operations:
  the valid blur (:func:`blur_valid`, by FFT), the saturation (:func:`saturate`), the Gaussian
  or Poisson-Gaussian noise (:func:`add_noise`, from a :class:`torch.Generator` seeded by the
  plan) with the effective noise level, and ``M`` (:func:`pseudo_inverse_batch` and
  ``Lᵀ k† R``).

A sample follows the numpy path's definitions: without noise, the same patch and kernel give
the same observation to float32 rounding, the same target bit for bit and the same ``M`` to
float32 rounding (float64 arithmetic on the device; float32 on Apple's ``mps``, which has no
float64).  The random stream is another one (the noise comes from torch), so a run with
``data_on_device`` is not the run without it; it is reproducible: batch ``s`` depends on the
seed, the step and the device type only (CPU and CUDA generators draw different numbers), not
on the number of workers.  Border samples (``p_border``) are cut on the CPU by
:meth:`~glra_trainer.data.Degrader.cut_border` (the engine's border extension, ~20 ms each)
after their noisy observation comes back from the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy import fft as sfft

from napari_glra.glra.pseudo_inverse import REG_POWER, REG_SCALE, gradient_power
from napari_glra.physics.kernels import pad_to

from . import loader
from .data import Degrader
from .loader import BatchStream, step_rng

__all__ = [
    "BatchPlan",
    "DeviceBatchStream",
    "DeviceDegrader",
    "make_plan",
    "add_noise",
    "blur_valid",
    "plan_batch",
    "pseudo_inverse_batch",
    "saturate",
]

DeviceBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class BatchPlan:
    """The CPU-drawn part of a batch; :class:`DeviceDegrader` makes ``(y, x, M, observed)`` of it."""

    #: ``(B, P, P)`` float32 sharp patches (``P`` = :attr:`Degrader.patch_size`).
    sharp: np.ndarray
    #: ``(B, K, K)`` float64 kernels, zero-padded to ``K = kmax``.
    kernels: np.ndarray
    #: ``(B,)`` side of each kernel before the padding (it sets the FFT size of the pseudo-inverse).
    ksize: np.ndarray
    #: The kernel family of each sample.
    families: tuple[str, ...]
    #: ``(B,)`` Gaussian noise std, or read-noise std on the [0, 1] scale (Poisson-Gaussian).
    noise: np.ndarray
    #: ``(B,)`` peak photons at intensity 1 (Poisson-Gaussian), None for Gaussian noise.
    peak: np.ndarray | None
    #: ``(B,)`` bool: saturate the sample.
    saturate: np.ndarray
    #: ``(B,)`` int64: seed of the sample's border cut (:meth:`Degrader.cut_border`), -1 for none.
    border: np.ndarray
    #: Seed of the torch generator that draws the batch's noise.
    seed: int


def plan_batch(
    degrader: Degrader, images: list[np.ndarray] | None, size: int, rng: np.random.Generator
) -> BatchPlan:
    """Draw the CPU part of a batch: patches, families, noise parameters, kernels and flags.

    Per sample, in this order: the patch, the family, the noise parameters (as
    :meth:`Degrader.batch_observed` draws them), the kernel (:meth:`Degrader.random_kernel`), the
    saturation flag (probability ``p_saturation``) and, with ``p_border``, whether the sample
    sits at a border and the seed of its cut; then the seed of the noise generator.

    Parameters
    ----------
    degrader : Degrader
        The degradation settings.
    images : list of numpy.ndarray, optional
        Training images (None: the degrader's procedural source).
    size : int
        Samples.
    rng : numpy.random.Generator
        The batch's generator (``step_rng(seed, step)`` in training).

    Returns
    -------
    BatchPlan
    """
    sharp, kernels, ksize, families, noise, peaks, sat, border = [], [], [], [], [], [], [], []
    for _ in range(size):
        sharp.append(degrader.random_patch(images, rng))
        family = degrader.random_family(rng)
        sigma, peak = degrader.random_noise(rng)
        k = degrader.random_kernel(family, rng)
        sat.append(rng.random() < degrader.p_saturation)
        cut = bool(degrader.p_border) and rng.random() < degrader.p_border
        border.append(int(rng.integers(2**63)) if cut else -1)
        kernels.append(pad_to(k, degrader.kmax))
        ksize.append(k.shape[0])
        families.append(family)
        noise.append(sigma)
        peaks.append(peak)
    return BatchPlan(
        sharp=np.stack(sharp).astype(np.float32, copy=False),
        kernels=np.stack(kernels).astype(np.float64, copy=False),
        ksize=np.asarray(ksize, dtype=np.int64),
        families=tuple(families),
        noise=np.asarray(noise, dtype=np.float64),
        peak=None if degrader.noise_model == "gaussian" else np.asarray(peaks, dtype=np.float64),
        saturate=np.asarray(sat, dtype=bool),
        border=np.asarray(border, dtype=np.int64),
        seed=int(rng.integers(2**63)),
    )


def blur_valid(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Valid convolution of a batch of images with a batch of kernels, by FFT.

    The same definition as :func:`napari_glra.physics.degrade.blur` (``mode="valid"``, a true
    convolution): ``y[i, j] = Σ_ab k[a, b] x[i + K - 1 - a, j + K - 1 - b]``.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, H, W)`` images.
    k : torch.Tensor
        ``(B, Kh, Kw)`` kernels (same dtype and device), no larger than the images.

    Returns
    -------
    torch.Tensor
        ``(B, H - Kh + 1, W - Kw + 1)``.
    """
    (h, w), (kh, kw) = x.shape[-2:], k.shape[-2:]
    if kh > h or kw > w:
        raise ValueError(f"kernels {tuple(k.shape[-2:])} are larger than the images {(h, w)}")
    # A circular convolution of any size >= the image has no wrap-around in the valid part.
    s = (sfft.next_fast_len(h, real=True), sfft.next_fast_len(w, real=True))
    full = torch.fft.irfft2(torch.fft.rfft2(x, s=s) * torch.fft.rfft2(k, s=s), s=s)
    return full[..., kh - 1 : h, kw - 1 : w]


def saturate(
    y: torch.Tensor, x: torch.Tensor, flags: torch.Tensor, factor: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``clip(v · factor, 0, 1)`` of the observations and targets of the flagged samples.

    As :func:`napari_glra.physics.degrade.degrade`: ``factor`` None or 1 leaves both unchanged.

    Parameters
    ----------
    y, x : torch.Tensor
        ``(B, ...)`` blurred observations and sharp targets.
    flags : torch.Tensor
        ``(B,)`` bool: which samples to saturate.
    factor : float or None
        The saturation factor (1.2 in the paper).

    Returns
    -------
    y, x : torch.Tensor
    """
    if factor is None or factor == 1:
        return y, x
    out = []
    for v in (y, x):
        f = flags.view(-1, *([1] * (v.dim() - 1)))
        out.append(torch.where(f, (v * factor).clamp(0.0, 1.0), v))
    return out[0], out[1]


def add_noise(
    clean: torch.Tensor, noise: torch.Tensor, peak: torch.Tensor | None, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian or Poisson-Gaussian noise per sample, and the noise level ``M`` is computed with.

    As :func:`napari_glra.physics.degrade.add_noise`: ``Poisson(clip(clean, 0) · peak) / peak``
    first when ``peak`` is given, then Gaussian noise of std ``noise``; the level is ``noise``
    for Gaussian noise, else the effective ``sqrt(mean(clip(clean, 0)) / peak + noise²)`` of
    :func:`napari_glra.physics.degrade.effective_noise`.

    Parameters
    ----------
    clean : torch.Tensor
        ``(B, H, W)`` noise-free observations.
    noise : torch.Tensor
        ``(B,)`` Gaussian (read) noise std on the [0, 1] scale.
    peak : torch.Tensor or None
        ``(B,)`` peak photons at intensity 1 (None: Gaussian noise only).
    generator : torch.Generator
        Draws the noise (on the device of ``clean``).

    Returns
    -------
    y : torch.Tensor
        ``(B, H, W)`` noisy observations.
    sigma : torch.Tensor
        ``(B,)`` the noise level of each sample.
    """
    per = (-1,) + (1,) * (clean.dim() - 1)
    y, sigma = clean, noise
    if peak is not None:
        pos = clean.clamp(min=0)
        p = peak.view(per)
        y = torch.poisson(pos * p, generator=generator) / p
        sigma = torch.sqrt(pos.mean(dim=tuple(range(1, clean.dim()))) / peak + noise**2)
    gauss = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
    return y + noise.view(per) * gauss, sigma


def pseudo_inverse_batch(
    kernels: torch.Tensor,
    reg: torch.Tensor,
    size: int,
    fft_size: int,
    prior: str = "gradient",
    taper: float = 0.25,
) -> torch.Tensor:
    """Regularised pseudo-inverses of a batch of kernels, several weights each, by FFT.

    The batched torch form of :func:`napari_glra.glra.pseudo_inverse.pseudo_inverse` (centred
    crop, raised-cosine taper, DC gain restored).

    Parameters
    ----------
    kernels : torch.Tensor
        ``(B, k, k)`` odd, centred kernels, ``k <= fft_size``.
    reg : torch.Tensor
        ``(B, S)`` regularisation weights.
    size : int
        Odd side of the pseudo-inverses.
    fft_size : int
        FFT grid side (``pseudo_inverse`` uses ``next_fast_len(max(2 size + 1, 2 k + 1))`` for a
        kernel of side ``k`` before any zero padding).
    prior : {"gradient", "identity"}
        The regulariser's spectrum: ``|∇|²`` or 1.
    taper : float
        Fraction of ``size`` rolled off on each side.

    Returns
    -------
    torch.Tensor
        ``(B, S, size, size)``.
    """
    n, k = int(fft_size), kernels.shape[-1]
    if k > n or size > n:
        raise ValueError(f"fft_size {n} is smaller than the kernel ({k}) or the crop size ({size})")
    pad = kernels.new_zeros(kernels.shape[0], n, n)
    pad[:, :k, :k] = kernels
    K = torch.fft.rfft2(torch.roll(pad, (-(k // 2), -(k // 2)), dims=(1, 2)))[:, None]
    if prior == "gradient":
        P = _gradient_power(n, kernels.dtype, kernels.device)
    elif prior == "identity":
        P = torch.ones((), dtype=kernels.dtype, device=kernels.device)
    else:
        raise ValueError(f"prior must be 'gradient' or 'identity', got {prior!r}")
    inv = 1.0 / (K.real**2 + K.imag**2 + reg[..., None, None] * P + 1e-12)
    F = torch.complex(K.real * inv, -K.imag * inv)  # conj(K) / (|K|² + reg P): a real denominator
    kinv = torch.fft.irfft2(F, s=(n, n))
    gain = F[..., 0, 0].real  # the sum of kinv
    h = size // 2
    idx = torch.arange(-h, h + 1, device=kernels.device) % n  # the centre of fftshift(kinv)
    crop = kinv[..., idx, :][..., idx]
    if not 0 <= taper <= 0.5:
        raise ValueError(f"taper must be in [0, 0.5], got {taper!r}")
    width = int(round(taper * size))
    if width > 0:
        crop = crop * _taper_window(size, width, crop.dtype, crop.device)
        crop = crop * (gain / crop.sum(dim=(-2, -1)))[..., None, None]
    return crop


@lru_cache(maxsize=8)
def _gradient_power(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``gradient_power((n, n), half=True)`` on the device (cached: no transfer per batch)."""
    return torch.as_tensor(gradient_power((n, n), half=True), dtype=dtype, device=device)


@lru_cache(maxsize=8)
def _taper_window(size: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The 2D raised-cosine taper of :func:`~napari_glra.glra.pseudo_inverse.pseudo_inverse` (cached)."""
    win = np.ones(size)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(width) / width)
    win[:width] = ramp
    win[-width:] = ramp[::-1]
    return torch.as_tensor(np.outer(win, win), dtype=dtype, device=device)


class DeviceDegrader:
    """Turns :class:`BatchPlan` s into training batches on a torch device.

    Parameters
    ----------
    degrader : Degrader
        The degradation settings and the basis (``crop``, ``context``, ``saturation``,
        ``balances``, ``noise_model``; :meth:`Degrader.cut_border` for border samples).
    device : torch.device or str
        Where the batches are made (the training device).
    dtype : torch.dtype, optional
        Arithmetic of the blur, noise and ``M`` (default float64; float32 on ``mps``).
    chunk : int, optional
        Samples whose pseudo-inverses are computed together (default: the whole batch on an
        accelerator, 4 on the CPU, where the ~50 MB temporaries of a whole batch make the
        FFTs 2.5x slower per sample).
    """

    def __init__(
        self,
        degrader: Degrader,
        device: torch.device | str,
        dtype: torch.dtype | None = None,
        chunk: int | None = None,
    ) -> None:
        self.degrader = degrader
        self.device = torch.device(device)
        self.chunk = chunk or (4 if self.device.type == "cpu" else None)
        self.dtype = dtype or (torch.float32 if self.device.type == "mps" else torch.float64)
        basis = degrader.basis
        self.L = torch.as_tensor(np.asarray(basis.L), dtype=self.dtype, device=self.device)
        self.R = torch.as_tensor(np.asarray(basis.R), dtype=self.dtype, device=self.device)
        self.balances = torch.as_tensor(degrader.balances, dtype=self.dtype, device=self.device)
        scale = float(basis.metadata.get("reg_scale", 0) or 0)
        power = float(basis.metadata.get("reg_power", 0) or 0)
        # Basis.reg: its own law when the basis has one, else napari_glra's noise_reg.
        self.reg_scale, self.reg_power = (scale, power) if scale > 0 else (REG_SCALE, REG_POWER)
        self.prior = str(basis.metadata.get("prior", "gradient"))

    def _tensor(self, a: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.as_tensor(a).to(self.device, dtype or self.dtype, non_blocking=True)

    def coefficients(self, kernels: torch.Tensor, ksize: np.ndarray, sigma: torch.Tensor) -> torch.Tensor:
        """``(B, S, m, m)`` GLRA coefficients of the kernels at their noise levels, one per balance.

        As :meth:`napari_glra.glra.basis.Basis.balanced_coefficients`: ``Lᵀ k† R`` of the
        pseudo-inverse with the weight ``reg(sigma) · balance``; kernels whose FFT grids differ
        (a side ``> d`` before padding) are done in groups.
        """
        d = self.L.shape[0]
        reg = self.reg_scale * sigma.clamp(min=1e-4) ** self.reg_power
        reg = reg[:, None] * self.balances  # (B, S)
        sizes = np.array([sfft.next_fast_len(max(2 * d + 1, 2 * int(s) + 1), real=True) for s in ksize])
        M = torch.empty(
            (kernels.shape[0], len(self.balances), self.L.shape[1], self.R.shape[1]),
            dtype=self.dtype,
            device=self.device,
        )
        K = kernels.shape[-1]
        for n in np.unique(sizes):
            group = np.flatnonzero(sizes == n)
            step = self.chunk or len(group)
            for start in range(0, len(group), step):
                rows = group[start : start + step]
                kc = int(ksize[rows].max())  # crop the zero padding: the kernel must fit the grid
                c = (K - kc) // 2
                idx = torch.as_tensor(rows, device=self.device)
                kd = pseudo_inverse_batch(
                    kernels[idx, c : c + kc, c : c + kc], reg[idx], d, int(n), self.prior
                )
                M[idx] = self.L.T @ kd @ self.R
        return M

    def __call__(self, plan: BatchPlan) -> DeviceBatch:
        """The batch ``(y, x, M, observed)`` of a plan: float32 tensors on the device.

        Shapes ``(B, 1, N + 2c, N + 2c)``, ``(B, 1, N, N)``, ``(B, S, m, m)`` and
        ``(B, 1, N + 2c, N + 2c)``, as :meth:`Degrader.batch_observed`.
        """
        dg = self.degrader
        sharp = self._tensor(plan.sharp)
        kernels = self._tensor(plan.kernels)
        clean = blur_valid(sharp, kernels)
        top = kernels.shape[-1] // 2 + dg.context
        x = sharp[:, top : top + dg.crop, top : top + dg.crop]
        flags = self._tensor(plan.saturate, torch.bool)
        clean, x = saturate(clean, x, flags, dg.saturation)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(plan.seed)
        peak = None if plan.peak is None else self._tensor(plan.peak)
        y, sigma = add_noise(clean, self._tensor(plan.noise), peak, generator)
        M = self.coefficients(kernels, plan.ksize, sigma)
        rows = np.flatnonzero(plan.border >= 0)
        # The engine's border extension of border samples: numpy, on the CPU (float64, as the numpy path).
        at = torch.as_tensor(rows, device=self.device)
        ys = y[at].cpu().numpy() if rows.size else None
        y, observed = y.float(), torch.ones(y.shape, dtype=torch.float32, device=self.device)
        if rows.size:
            sig = sigma[at].cpu().numpy()
            for j, i in enumerate(rows):
                k = pad_to(plan.kernels[i], int(plan.ksize[i]))
                cut, obs = dg.cut_border(ys[j], k, float(sig[j]), np.random.default_rng(int(plan.border[i])))
                y[i] = torch.from_numpy(cut).to(self.device)
                observed[i] = torch.from_numpy(obs).to(self.device)
        return y[:, None], x.float()[:, None], M.float(), observed[:, None]


def make_plan(step: int, size: int, seed: int) -> BatchPlan:
    """Batch plan ``step`` in a worker of a :class:`~glra_trainer.loader.BatchStream` (``make=make_plan``)."""
    state = loader.worker_state()
    return plan_batch(state["degrader"], state["images"], size, step_rng(seed, step))


class DeviceBatchStream:
    """Training batches ``(y, x, M, observed)`` made on the training device, batch ``s`` from ``(seed, s)``.

    Parameters
    ----------
    degrader : Degrader
        The degradation settings.
    images : list of numpy.ndarray, optional
        Training images, for plans drawn in this process (``workers = 0``).
    folder : str or pathlib.Path, optional
        The image folder the workers load (``workers >= 1``; None: the procedural source).
    max_images : int, optional
        The workers use the first ``max_images`` images of ``folder``.
    batch : int
        Samples per batch.
    seed : int
        Run seed: batch ``s`` is planned from ``step_rng(seed, s)``.
    workers : int
        Processes drawing the plans (0: this process).
    device : torch.device or str
        The training device.
    start : int
        First batch (a resumed run's).
    """

    def __init__(
        self,
        degrader: Degrader,
        images: list[np.ndarray] | None,
        folder: str | Path | None,
        max_images: int | None,
        batch: int,
        seed: int,
        workers: int,
        device: torch.device | str,
        start: int = 0,
    ) -> None:
        self.degrader, self.images = degrader, images
        self.batch, self.seed, self.next_step = int(batch), int(seed), int(start)
        self.engine = DeviceDegrader(degrader, device)
        self.plans = (
            BatchStream(degrader, folder, max_images, batch, seed, workers, start=start, make=make_plan)
            if workers > 0
            else None
        )

    def __next__(self) -> DeviceBatch:
        if self.plans is not None:
            plan = next(self.plans)
        else:
            plan = plan_batch(self.degrader, self.images, self.batch, step_rng(self.seed, self.next_step))
        self.next_step += 1
        return self.engine(plan)

    def __iter__(self) -> DeviceBatchStream:
        return self

    def close(self) -> None:
        """Stop the workers, if any."""
        if self.plans is not None:
            self.plans.close()

    def __enter__(self) -> DeviceBatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
