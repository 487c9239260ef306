"""Training data: image sources and on-the-fly degradation into (y, x, M) batches.

Image sources (``Degrader(source=...)``):

- ``"folder"`` (default): random crops of the given images (a folder of natural
  images such as BSDS500), or procedural dead leaves when there are none;
- ``"fluorescence"``: procedural fluorescence-like images
  (:func:`napari_glra.physics.synthetic.fluorescence_image`), one per patch;
- ``"mixed"``: a folder crop (or dead leaves) with probability ``p_natural``,
  else a fluorescence image.

Noise models (``Degrader(noise_model=...)``):

- ``"gaussian"``: standard deviation log-uniform in ``noise_range``;
- ``"poisson_gaussian"``: ``Poisson(clean · peak) / peak`` plus Gaussian read
  noise, the peak photon count (photons at intensity 1) log-uniform in
  ``peak_range`` and the read noise (photons) log-uniform in ``read_range``.
  The network is conditioned on one standard deviation: the effective
  ``sqrt(mean variance)`` of the observed patch
  (:func:`napari_glra.physics.degrade.effective_noise`), which is what the engine's
  noise estimator returns on such images at inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_glra.glra.basis import Basis
from napari_glra.physics.degrade import add_noise, degrade, effective_noise
from napari_glra.physics.kernels import FAMILIES, pad_to, sample_kernel
from napari_glra.physics.synthetic import fluorescence_image

#: Image sources of :class:`Degrader`.
SOURCES = ("folder", "fluorescence", "mixed")
#: Noise models of :class:`Degrader`.
NOISE_MODELS = ("gaussian", "poisson_gaussian")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


def list_images(folder: str | Path) -> list[Path]:
    """Image files of a folder, sorted (deterministic)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def load_grey(path: str | Path) -> np.ndarray:
    """Load an image as grey float32 in [0, 1]."""
    from skimage import io
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float32

    img = io.imread(str(path))
    if img.ndim == 3 and img.shape[-1] == 4:
        img = rgba2rgb(img)
    if img.ndim == 3:
        img = rgb2gray(img)
    return img_as_float32(img)


def load_images(folder: str | Path, max_images: int | None = None) -> list[np.ndarray]:
    """Grey float32 images of a folder (the first ``max_images`` in sorted order)."""
    files = list_images(folder)[:max_images]
    return [load_grey(f) for f in files]


def dead_leaves(size: int, rng: np.random.Generator, n_disks: int = 600) -> np.ndarray:
    """Procedural 'dead leaves' image (occluding random disks with power-law radii).

    Used for runs without an image folder (smoke tests, quick experiments).
    """
    img = np.full((size, size), rng.uniform(0, 1), dtype=np.float32)
    yy, xx = np.mgrid[:size, :size]
    rmin, rmax = 2.0, size / 3
    u = rng.uniform(size=n_disks)
    radii = (rmin**-2 + u * (rmax**-2 - rmin**-2)) ** -0.5  # p(r) ~ r^-3
    for r in np.sort(radii)[::-1]:
        cy, cx = rng.uniform(-r, size + r, size=2)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img[mask] = rng.uniform(0, 1)
    return img


@dataclass
class Sample:
    """One degraded training example."""

    y: np.ndarray
    x: np.ndarray
    M: np.ndarray
    family: str
    noise: float  # the standard deviation M was computed with (effective one for Poisson-Gaussian)
    peak: float | None = None  # photons at intensity 1 (Poisson-Gaussian), None for Gaussian noise
    #: Border samples: 1 where ``y`` is observed, 0 where the engine's extension replaced it.
    observed: np.ndarray | None = None


class Degrader:
    """Turns sharp images into (blurred, sharp, M) examples as the paper does.

    Parameters
    ----------
    basis : Basis
        Basis used to compute ``M`` for each kernel.
    crop : int
        Side of the blurred/sharp output crops.
    noise_range : tuple of float
        Noise standard deviations are drawn log-uniformly in this range.
    saturation : float
        Saturation factor (×s then clip), applied with probability ``p_saturation``.
    families : sequence of str
        Kernel families to sample.
    balances : tuple of float
        Regularisation multipliers: one ``M`` per balance (``config.balances``).
    kmax : int
        Odd size every kernel is zero-padded to, so all crops align (larger draws are redrawn).
    context : int
        Observed pixels around the crop on each side (the blurred patch is larger by ``2 context``).
    source : {"folder", "fluorescence", "mixed"}
        Where sharp patches come from (see the module notes).
    p_natural : float
        Probability of a folder (natural) patch with ``source="mixed"``.
    noise_model : {"gaussian", "poisson_gaussian"}
        Noise of the observations (see the module notes).
    peak_range : tuple of float
        Peak photon counts (photons at intensity 1), log-uniform (Poisson-Gaussian).
    read_range : tuple of float
        Read noise standard deviations in photons, log-uniform (Poisson-Gaussian).
    fluorescence : dict, optional
        Keyword arguments of :func:`napari_glra.physics.synthetic.fluorescence_image`.
    gain_range : tuple of float
        Fluorescence patches are multiplied by a gain log-uniform in this range
        before the blur (1-1: none).  Gains above 1 give observations whose bright
        end reaches ~1, as the engine's percentile map makes of camera frames (the
        sharp targets then exceed 1).
    family_weights : sequence of float, optional
        Relative frequency of each of ``families`` in training batches (normalised;
        ``None``: uniform).  Validation sets are unaffected (``per_family`` each).
    p_border : float
        Probability that a sample sits at an image border (:meth:`cut_border`): the
        observation stops at 1-4 sides inside the crop and is extended beyond there
        exactly as the engine extends images (:func:`napari_glra.engine.border.border_extension`).
    p_brightness : float
        Probability that a folder (natural) patch gets a random brightness and offset,
        ``x -> g x + b`` with ``g`` log-uniform in ``brightness_range`` and ``b`` uniform in
        ``offset_range``, before the blur (0: never; the draws are then skipped, so older
        runs keep their random stream).  Teaches the network that a picture's restoration
        does not depend on its brightness (the engine's intensity map stretches non-unit
        images to [0, 1]; unit-scale images are used as they are).
    brightness_range, offset_range : tuple of float
        Ranges of ``g`` (positive) and ``b``.
    kernel_ranges : dict, optional
        Per family, parameter ranges that replace its
        :data:`~napari_glra.physics.kernels.KERNEL_RANGES` entry in training draws (e.g.
        ``{"gaussian": {"sigma": (1.2, 9.0)}}``: larger kernels than the basis was fitted on).
    """

    def __init__(
        self,
        basis: Basis,
        crop: int = 128,
        noise_range: tuple[float, float] = (0.005, 0.03),
        saturation: float = 1.2,
        p_saturation: float = 0.7,
        families: tuple[str, ...] = FAMILIES,
        kmax: int = 45,
        balances: tuple[float, ...] = (1.0,),
        context: int = 0,
        source: str = "folder",
        p_natural: float = 0.5,
        noise_model: str = "gaussian",
        peak_range: tuple[float, float] = (100.0, 3000.0),
        read_range: tuple[float, float] = (0.5, 5.0),
        fluorescence: dict | None = None,
        gain_range: tuple[float, float] = (1.0, 1.0),
        family_weights: tuple[float, ...] | None = None,
        p_border: float = 0.0,
        p_brightness: float = 0.0,
        brightness_range: tuple[float, float] = (1.0, 1.0),
        offset_range: tuple[float, float] = (0.0, 0.0),
        kernel_ranges: dict[str, dict[str, tuple[float, float]]] | None = None,
    ) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown image source {source!r}; choose one of {SOURCES}")
        if noise_model not in NOISE_MODELS:
            raise ValueError(f"unknown noise model {noise_model!r}; choose one of {NOISE_MODELS}")
        ranges = {
            "peak_range": peak_range,
            "read_range": read_range,
            "gain_range": gain_range,
            "brightness_range": brightness_range,
        }
        for name, (lo, hi) in ranges.items():
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range of positive numbers, got {(lo, hi)!r}")
        self.basis = basis
        self.crop = int(crop)
        self.noise_range = noise_range
        self.saturation = saturation
        self.p_saturation = p_saturation
        self.families = tuple(families)
        if family_weights is not None:
            w = np.asarray(family_weights, dtype=float)
            if w.shape != (len(self.families),) or not np.all(w >= 0) or not w.sum() > 0:
                raise ValueError(
                    f"family_weights must be {len(self.families)} non-negative numbers (one per family "
                    f"{self.families}) with a positive sum, got {family_weights!r}"
                )
            family_weights = tuple(w / w.sum())
        self.family_weights = family_weights
        self.kmax = int(kmax)
        self.balances = tuple(balances)
        self.context = int(context)
        self.source = source
        self.p_natural = float(p_natural)
        self.noise_model = noise_model
        self.peak_range = (float(peak_range[0]), float(peak_range[1]))
        self.read_range = (float(read_range[0]), float(read_range[1]))
        self.fluorescence = dict(fluorescence or {})
        self.gain_range = (float(gain_range[0]), float(gain_range[1]))
        if not 0 <= p_border <= 1:
            raise ValueError(f"p_border must be a probability in [0, 1], got {p_border!r}")
        self.p_border = float(p_border)
        if not 0 <= p_brightness <= 1:
            raise ValueError(f"p_brightness must be a probability in [0, 1], got {p_brightness!r}")
        if not offset_range[0] <= offset_range[1]:
            raise ValueError(f"offset_range must be (low, high) with low <= high, got {offset_range!r}")
        self.p_brightness = float(p_brightness)
        self.brightness_range = (float(brightness_range[0]), float(brightness_range[1]))
        self.offset_range = (float(offset_range[0]), float(offset_range[1]))
        self.kernel_ranges = {f: dict(r) for f, r in (kernel_ranges or {}).items()}
        unknown = sorted(set(self.kernel_ranges) - set(self.families))
        if unknown:
            raise ValueError(f"kernel_ranges name families {unknown} that are not trained ({self.families})")

    @property
    def patch_size(self) -> int:
        """Side of the sharp patches: crop + 2 context + kmax - 1."""
        return self.crop + 2 * self.context + self.kmax - 1

    def random_patch(self, images: list[np.ndarray] | None, rng: np.random.Generator) -> np.ndarray:
        """A random sharp patch (:attr:`patch_size`) from the configured source.

        Folder patches are flipped/rotated crops of ``images`` (dead leaves when
        there are none); fluorescence patches are drawn whole, times a random gain.
        """
        n = self.patch_size
        if self.source == "fluorescence" or (self.source == "mixed" and rng.random() >= self.p_natural):
            x = fluorescence_image((n, n), rng, **self.fluorescence)
            lo, hi = self.gain_range
            return x * np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else x
        if not images:
            return dead_leaves(n, rng)
        img = images[int(rng.integers(len(images)))]
        if img.shape[0] < n or img.shape[1] < n:
            reps = (int(np.ceil(n / img.shape[0])), int(np.ceil(n / img.shape[1])))
            img = np.pad(img, [(0, (r - 1) * s) for r, s in zip(reps, img.shape)], mode="symmetric")
        i = int(rng.integers(img.shape[0] - n + 1))
        j = int(rng.integers(img.shape[1] - n + 1))
        p = img[i : i + n, j : j + n]
        p = np.rot90(p, int(rng.integers(4)))
        p = p[:, ::-1] if rng.random() < 0.5 else p
        return self.random_brightness(p, rng) if self.p_brightness else p

    def random_brightness(self, patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``patch`` times a random gain plus a random offset, with probability ``p_brightness``."""
        if rng.random() >= self.p_brightness:
            return patch
        g = float(np.exp(rng.uniform(*np.log(self.brightness_range))))
        b = float(rng.uniform(*self.offset_range))
        return (patch * np.float32(g) + np.float32(b)).astype(np.float32)

    def make(
        self,
        sharp: np.ndarray,
        family: str,
        noise: float,
        rng: np.random.Generator,
        saturate: bool | None = None,
        peak: float | None = None,
    ) -> Sample:
        """Degrade one sharp patch with a random kernel of ``family``.

        ``noise`` is the Gaussian standard deviation on the [0, 1] scale; with
        ``peak`` (photons at intensity 1) Poisson noise comes first and ``noise``
        is the read noise, and ``M`` uses the effective standard deviation.
        """
        k = self.random_kernel(family, rng)
        if saturate is None:
            saturate = rng.random() < self.p_saturation
        sat = self.saturation if saturate else None
        if peak is None:
            y, x = degrade(sharp, pad_to(k, self.kmax), noise=noise, saturation=sat, mode="valid", seed=rng)
            sigma = noise
        else:
            clean, x = degrade(sharp, pad_to(k, self.kmax), noise=0.0, saturation=sat, mode="valid")
            y = add_noise(clean, noise, peak, rng)
            # The sigma the engine would estimate on this observation (see effective_noise).
            sigma = effective_noise(clean, noise, peak)
        M, _ = self.basis.balanced_coefficients(k, sigma, self.balances)
        c = self.context
        if c:
            x = x[c:-c, c:-c]
        observed = None
        if self.p_border and rng.random() < self.p_border:
            y, observed = self.cut_border(y, k, sigma, rng)
        return Sample(
            y.astype(np.float32),
            x.astype(np.float32),
            M.astype(np.float32),
            family,
            float(sigma),
            peak,
            observed,
        )

    def cut_border(
        self, y: np.ndarray, k: np.ndarray, sigma: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Turn an observed window into one at an image border, as the engine sees it.

        Each side is cut with probability 1/2 (at least one side), at a random depth
        of 0 to a third of the crop inside the output crop.  The kept rectangle is extended by
        :func:`napari_glra.engine.border.border_extension` (``border_pad`` pixels per cut side,
        the engine's extension), then mirrored beyond, as the network pads a plane.

        Returns
        -------
        y : numpy.ndarray
            The new window (same shape).
        observed : numpy.ndarray
            1 on the kept rectangle, 0 elsewhere (float32).
        """
        from napari_glra.engine.border import border_extension, border_pad

        n = y.shape[0]
        c, deepest = self.context, self.crop // 3
        cut = rng.random(4) < 0.5
        if not cut.any():
            cut[int(rng.integers(4))] = True
        depth = [c + int(rng.integers(deepest + 1)) if cut[i] else 0 for i in range(4)]
        a0, a1, b0, b1 = depth[0], n - depth[1], depth[2], n - depth[3]
        p = border_pad(k.shape)
        ext = border_extension(np.ascontiguousarray(y[a0:a1, b0:b1]), k, sigma)
        # Window coordinates of ext: [a0 - p, a1 + p) x [b0 - p, b1 + p); mirror it to cover
        # the window, then cut the window out.
        lo_r, lo_c = a0 - p, b0 - p
        pads = ((max(0, lo_r), max(0, n - (a1 + p))), (max(0, lo_c), max(0, n - (b1 + p))))
        full = np.pad(ext, pads, mode="symmetric")
        r0, c0 = max(0, -lo_r), max(0, -lo_c)
        out = full[r0 : r0 + n, c0 : c0 + n].copy()
        observed = np.zeros((n, n), np.float32)
        observed[a0:a1, b0:b1] = 1.0
        out[a0:a1, b0:b1] = y[a0:a1, b0:b1]
        return out.astype(np.float32), observed

    def random_family(self, rng: np.random.Generator) -> str:
        """A kernel family of a training sample (uniform, or as ``family_weights`` say)."""
        if self.family_weights is None:  # (the draw of the runs made before the weights existed)
            return self.families[int(rng.integers(len(self.families)))]
        return self.families[int(rng.choice(len(self.families), p=self.family_weights))]

    def random_kernel(self, family: str, rng: np.random.Generator) -> np.ndarray:
        """A random kernel of ``family`` (odd, square, unpadded), redrawn while larger than ``kmax``."""
        ranges = self.kernel_ranges.get(family)
        for _ in range(200):  # redrawn when larger: rare, very curled motion paths
            k, _ = sample_kernel(family, rng, ranges=ranges)
            if k.shape[0] <= self.kmax:
                return k
        raise ValueError(
            f"{family} kernels drawn with {ranges or 'the standard ranges'} are larger than "
            f"kmax = {self.kmax}: raise kmax or narrow kernel_ranges"
        )

    def random_noise(self, rng: np.random.Generator) -> tuple[float, float | None]:
        """``(noise, peak)`` for :meth:`make`: a Gaussian std, or a read-noise std and a peak photon count."""
        if self.noise_model == "gaussian":
            lo, hi = np.log(self.noise_range[0]), np.log(self.noise_range[1])
            return float(np.exp(rng.uniform(lo, hi))), None
        peak = float(np.exp(rng.uniform(*np.log(self.peak_range))))
        read = float(np.exp(rng.uniform(*np.log(self.read_range))))
        return read / peak, peak

    def batch(
        self, images: list[np.ndarray] | None, size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A training batch ``(y, x, M)``: (B,1,N+2c,N+2c), (B,1,N,N), (B,S,m,m) (``c`` = context)."""
        return self.batch_observed(images, size, rng)[:3]

    def batch_observed(
        self, images: list[np.ndarray] | None, size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`batch` plus the ``(B,1,N+2c,N+2c)`` observed masks (all ones but for border samples)."""
        samples = []
        for _ in range(size):
            sharp = self.random_patch(images, rng)
            family = self.random_family(rng)
            noise, peak = self.random_noise(rng)
            samples.append(self.make(sharp, family, noise, rng, peak=peak))
        y = np.stack([s.y for s in samples])[:, None]
        x = np.stack([s.x for s in samples])[:, None]
        M = np.stack([s.M for s in samples])
        obs = np.stack([np.ones_like(s.y) if s.observed is None else s.observed for s in samples])[:, None]
        return y, x, M, obs


def validation_set(
    degrader: Degrader,
    images: list[np.ndarray] | None,
    per_family: int,
    noise: float,
    seed: int,
    peak: float | None = None,
) -> list[Sample]:
    """A fixed, seeded validation set: ``per_family`` examples of each family at one noise level.

    ``noise`` is the Gaussian standard deviation, or with ``peak`` the read noise
    of Poisson-Gaussian noise (see :meth:`Degrader.make`).  Saturation as the
    degrader's ``p_saturation`` says: always if it is positive, never if it is 0.
    """
    rng = np.random.default_rng(seed)
    out = []
    saturate = degrader.p_saturation > 0
    for fam in degrader.families:
        for _ in range(per_family):
            patch = degrader.random_patch(images, rng)
            out.append(degrader.make(patch, fam, noise, rng, saturate=saturate, peak=peak))
    return out
