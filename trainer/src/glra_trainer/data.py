"""Training data: image sources and on-the-fly degradation into (y, x, M) batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_glra.degrade import degrade
from napari_glra.glra import Basis
from napari_glra.kernels import FAMILIES, pad_to, sample_kernel

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
    noise: float


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
    ) -> None:
        self.basis = basis
        self.crop = int(crop)
        self.noise_range = noise_range
        self.saturation = saturation
        self.p_saturation = p_saturation
        self.families = tuple(families)
        self.kmax = int(kmax)
        self.balances = tuple(balances)
        self.context = int(context)

    def random_patch(self, images: list[np.ndarray] | None, rng: np.random.Generator) -> np.ndarray:
        """A random sharp patch (crop + 2 context + kmax - 1), flipped/rotated, from images or dead leaves."""
        n = self.crop + 2 * self.context + self.kmax - 1
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
        return p[:, ::-1] if rng.random() < 0.5 else p

    def make(
        self,
        sharp: np.ndarray,
        family: str,
        noise: float,
        rng: np.random.Generator,
        saturate: bool | None = None,
    ) -> Sample:
        """Degrade one sharp patch with a random kernel of ``family``."""
        k, _ = sample_kernel(family, rng)
        while k.shape[0] > self.kmax:  # rare, very curled motion paths
            k, _ = sample_kernel(family, rng)
        if saturate is None:
            saturate = rng.random() < self.p_saturation
        y, x = degrade(
            sharp,
            pad_to(k, self.kmax),
            noise=noise,
            saturation=self.saturation if saturate else None,
            mode="valid",
            seed=rng,
        )
        M, _ = self.basis.balanced_coefficients(k, noise, self.balances)
        c = self.context
        if c:
            x = x[c:-c, c:-c]
        return Sample(y.astype(np.float32), x.astype(np.float32), M.astype(np.float32), family, noise)

    def batch(
        self, images: list[np.ndarray] | None, size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A training batch ``(y, x, M)``: (B,1,N+2c,N+2c), (B,1,N,N), (B,S,m,m) (``c`` = context)."""
        lo, hi = np.log(self.noise_range[0]), np.log(self.noise_range[1])
        samples = [
            self.make(
                self.random_patch(images, rng),
                self.families[int(rng.integers(len(self.families)))],
                float(np.exp(rng.uniform(lo, hi))),
                rng,
            )
            for _ in range(size)
        ]
        y = np.stack([s.y for s in samples])[:, None]
        x = np.stack([s.x for s in samples])[:, None]
        M = np.stack([s.M for s in samples])
        return y, x, M


def validation_set(
    degrader: Degrader,
    images: list[np.ndarray] | None,
    per_family: int,
    noise: float,
    seed: int,
) -> list[Sample]:
    """A fixed, seeded validation set: ``per_family`` examples of each family at one noise level."""
    rng = np.random.default_rng(seed)
    out = []
    for fam in degrader.families:
        for _ in range(per_family):
            out.append(degrader.make(degrader.random_patch(images, rng), fam, noise, rng, saturate=True))
    return out
