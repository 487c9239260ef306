"""Procedural fluorescence-like images: filaments, membranes, blobs and puncta on a dark background.

One generator, :func:`fluorescence_image`, used by the napari sample data
(:func:`napari_glra._sample_data.synthetic_fluorescence`), the tests and the
trainer (the ``fluorescence`` / ``mixed`` image sources and the synthetic
fluorescence evaluation protocol).  numpy only, seeded by a
:class:`numpy.random.Generator`.

What an image holds (each kind may be absent; their numbers vary per image, so
some images are dominated by filaments, others by puncta or cells):

- **filaments** (microtubules, actin): smooth random curves with a persistent
  direction, of sub-pixel to ~1 px width;
- **membranes**: closed smooth contours (a radius with a few random Fourier
  modes), sometimes with a dim interior (cytoplasm);
- **blobs** (nuclei, vesicles, organelles): soft-edged ellipses of 2-12 px;
- **puncta**: sub-resolution spots (single vesicles, beads, clusters);
- a dark **background**: a small constant offset plus a faint, very smooth haze.

Each structure's brightness is drawn log-uniformly over ``dynamic_range``
(two decades by default), so dim structures sit next to bright ones as in real
fluorescence images.  Thin structures are drawn as sums of small pixel-size
Gaussian splats along the curve (sub-pixel positions, mass-conserving), so
they are not aliased to the pixel grid.  The image is finally scaled so its
brightest pixel lies in ``peak``; values are float32 in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["STRUCTURES", "fluorescence_image"]

#: Kinds of structure :func:`fluorescence_image` can draw.
STRUCTURES: tuple[str, ...] = ("filaments", "membranes", "blobs", "puncta")

#: Mean number of each structure per 256 x 256 pixels (times a per-image crowding in [0.3, 2]
#: and a per-kind factor in [0, 2]).
_DENSITY = {"filaments": 14.0, "membranes": 2.0, "blobs": 8.0, "puncta": 60.0}
#: Half-width (px) of the window each splat is drawn on (~3 sigma of the widest line).
_SPLAT_RADIUS = 3
#: Spacing (px) of the splats along curves.
_STEP = 0.5


def _splat(
    canvas: np.ndarray, pos: np.ndarray, mass: np.ndarray, sigma: np.ndarray, r: int = _SPLAT_RADIUS
) -> None:
    """Add mass-conserving Gaussian splats at sub-pixel positions (in place).

    ``pos`` are (n, 2) coordinates in the canvas's frame; splats whose
    ``(2r+1)²`` window leaves the canvas are dropped (pad the canvas by ``2r``
    to keep everything that touches the image).  Each splat is a sampled
    Gaussian of std ``sqrt(sigma² + 1/12)`` (the pixel's own box adds 1/12 px²)
    normalised to sum ``mass``.
    """
    H, W = canvas.shape
    ci = np.rint(pos).astype(np.int64)
    ok = (ci[:, 0] >= r) & (ci[:, 0] < H - r) & (ci[:, 1] >= r) & (ci[:, 1] < W - r)
    if not np.any(ok):
        return
    ci, pos, mass, sigma = ci[ok], pos[ok], mass[ok], sigma[ok]
    off = np.arange(-r, r + 1)
    s2 = 2.0 * (sigma**2 + 1.0 / 12.0)
    gy = np.exp(-((ci[:, :1] + off - pos[:, :1]) ** 2) / s2[:, None])
    gx = np.exp(-((ci[:, 1:] + off - pos[:, 1:]) ** 2) / s2[:, None])
    gy *= (mass / (gy.sum(1) * gx.sum(1)))[:, None]
    vals = gy[:, :, None] * gx[:, None, :]
    rows = ci[:, 0, None] + off
    cols = ci[:, 1, None] + off
    idx = rows[:, :, None] * W + cols[:, None, :]
    canvas += np.bincount(idx.ravel(), weights=vals.ravel(), minlength=H * W).reshape(H, W)


def _curve(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Points every ``_STEP`` px along a smooth random curve (persistent random walk of the direction)."""
    length = rng.uniform(0.3, 1.5) * max(h, w)
    n = max(8, int(length / _STEP))
    # Curvature: a smoothed random process, from nearly straight (actin) to curly.
    kappa = np.exp(rng.uniform(np.log(0.002), np.log(0.05)))
    dtheta = rng.normal(0.0, kappa, n)
    dtheta = np.convolve(dtheta, np.ones(15) / np.sqrt(15), mode="same")
    theta = rng.uniform(0, 2 * np.pi) + np.cumsum(dtheta)
    steps = _STEP * np.stack([np.sin(theta), np.cos(theta)], 1)
    start = rng.uniform([-0.1 * h, -0.1 * w], [1.1 * h, 1.1 * w])
    pts = np.cumsum(steps, 0)
    return start + pts - pts[n // 2] * rng.uniform(0, 1)


def _closed_contour(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Points along a closed smooth contour, its centre and its radius function's Fourier terms."""
    R = np.exp(rng.uniform(np.log(8.0), np.log(0.3 * min(h, w) + 8.0)))
    centre = rng.uniform([0, 0], [h, w])
    modes = np.arange(2, 6)
    amps = rng.normal(0.0, 0.08, modes.size) / modes
    phases = rng.uniform(0, 2 * np.pi, modes.size)
    aspect = rng.uniform(0.7, 1.0)
    rot = rng.uniform(0, np.pi)
    n = max(16, int(2 * np.pi * R / _STEP))
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rad = _radius(phi, R, modes, amps, phases)
    pts = _rotated(rad * np.sin(phi) * aspect, rad * np.cos(phi), rot) + centre
    return pts, centre, (R, modes, amps, phases, aspect, rot)


def _radius(phi: np.ndarray, R: float, modes: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Contour radius ``R (1 + sum_n a_n cos(n phi + p_n))`` at angles ``phi`` (any shape)."""
    terms = np.cos(np.multiply.outer(phi, modes) + phases) * amps
    return R * (1.0 + terms.sum(-1))


def _rotated(dy: np.ndarray, dx: np.ndarray, rot: float) -> np.ndarray:
    c, s = np.cos(rot), np.sin(rot)
    return np.stack([c * dy + s * dx, -s * dy + c * dx], -1)


def _fill_contour(canvas: np.ndarray, centre: np.ndarray, shape: tuple, level: float, r: int) -> None:
    """Add a soft-edged filled interior of a closed contour (in place, padded canvas)."""
    R, modes, amps, phases, aspect, rot = shape
    H, W = canvas.shape
    ext = R * 1.5 + 2
    y0, y1 = int(max(0, centre[0] + r - ext)), int(min(H, centre[0] + r + ext + 1))
    x0, x1 = int(max(0, centre[1] + r - ext)), int(min(W, centre[1] + r + ext + 1))
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1)[:, None] - r - centre[0]
    xx = np.arange(x0, x1)[None, :] - r - centre[1]
    c, s = np.cos(rot), np.sin(rot)
    dy = (c * yy - s * xx) / aspect  # undo the rotation and the aspect
    dx = s * yy + c * xx
    rho = np.hypot(dy, dx)
    phi = np.arctan2(dy, dx)
    rad = _radius(phi, R, modes, amps, phases)
    canvas[y0:y1, x0:x1] += level / (1.0 + np.exp((rho - rad + 1.0) / 0.7))


def _blob(canvas: np.ndarray, rng: np.random.Generator, shape: tuple[int, int], level: float, r: int) -> None:
    """Add a soft-edged ellipse with a gentle internal gradient (in place, padded canvas)."""
    h, w = shape
    H, W = canvas.shape
    a = np.exp(rng.uniform(np.log(2.0), np.log(12.0)))
    b = a * rng.uniform(0.6, 1.0)
    rot = rng.uniform(0, np.pi)
    edge = rng.uniform(0.4, 1.5)
    cy, cx = rng.uniform([0, 0], [h, w]) + r
    ext = a + 4 * edge + 1
    y0, y1 = int(max(0, cy - ext)), int(min(H, cy + ext + 1))
    x0, x1 = int(max(0, cx - ext)), int(min(W, cx + ext + 1))
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1)[:, None] - cy
    xx = np.arange(x0, x1)[None, :] - cx
    c, s = np.cos(rot), np.sin(rot)
    u, v = (c * yy - s * xx) / a, (s * yy + c * xx) / b
    rho = np.sqrt(u * u + v * v) * a  # ~ distance in px along the major axis
    inside = 1.0 / (1.0 + np.exp((rho - a) / edge))
    tilt = 1.0 + rng.uniform(-0.3, 0.3) * u + rng.uniform(-0.3, 0.3) * v
    canvas[y0:y1, x0:x1] += level * inside * np.clip(tilt, 0.4, None)


def fluorescence_image(
    shape: tuple[int, int] = (256, 256),
    rng: np.random.Generator | int | None = None,
    *,
    structures: Sequence[str] = STRUCTURES,
    density: float = 1.0,
    dynamic_range: float = 100.0,
    background: tuple[float, float] = (0.005, 0.03),
    peak: tuple[float, float] = (0.7, 1.0),
) -> np.ndarray:
    """A sharp fluorescence-like image: filaments, membranes, blobs and puncta on a dark background.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` in pixels.
    rng : numpy.random.Generator or int, optional
        Source of randomness (or its seed): the same generator state gives the same image.
    structures : sequence of str
        Kinds of structure to draw, a subset of :data:`STRUCTURES`.
    density : float
        Multiplies the mean number of structures per unit area.
    dynamic_range : float
        Ratio between the brightest and the dimmest structure (brightness is
        log-uniform in between; 100 = two decades).
    background : tuple of float
        Range of the constant background offset (uniform draw).
    peak : tuple of float
        Range of the brightest pixel's value (uniform draw), at most 1.

    Returns
    -------
    numpy.ndarray
        float32 image with values in [0, 1]: background about ``background``,
        structures up to ``peak``.

    Examples
    --------
    >>> x = fluorescence_image((64, 64), np.random.default_rng(0))
    >>> x.dtype, x.shape, bool(0 <= x.min() and x.max() <= 1)
    (dtype('float32'), (64, 64), True)
    """
    rng = np.random.default_rng(rng)
    h, w = (int(s) for s in shape)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be positive, got {shape!r}")
    unknown = [s for s in structures if s not in STRUCTURES]
    if unknown:
        raise ValueError(f"unknown structures {unknown}; choose from {STRUCTURES}")
    if not dynamic_range >= 1:
        raise ValueError(f"dynamic_range must be >= 1, got {dynamic_range!r}")
    if not 0 < peak[0] <= peak[1] <= 1:
        raise ValueError(f"peak must be a range within (0, 1], got {peak!r}")
    if not 0 <= background[0] <= background[1] < peak[0]:
        raise ValueError(f"background must be a range within [0, peak), got {background!r}")
    r = 2 * _SPLAT_RADIUS  # canvas padding: splats centred up to _SPLAT_RADIUS outside still count
    canvas = np.zeros((h + 2 * r, w + 2 * r))
    # Overall crowding varies per image (sparse to crowded), then each kind's share.
    area = h * w / 256.0**2 * np.exp(rng.uniform(np.log(0.3), np.log(2.0)))
    log_dr = np.log(dynamic_range)

    def bright(n: int = 1) -> np.ndarray:
        return np.exp(-rng.uniform(0, log_dr, n))

    def count(kind: str) -> int:
        if kind not in structures:
            return 0
        return int(rng.poisson(_DENSITY[kind] * density * area * rng.uniform(0, 2)))

    pos, mass, sig = [], [], []

    def line(p: np.ndarray, density: np.ndarray, sigma: float) -> None:
        # Splats every _STEP px, or sparser for wide lines (spacing <= 1.7 x the splat's std
        # leaves ripples below 0.3 %); density = mass per px of length.
        j = max(1, int(1.7 * np.sqrt(sigma**2 + 1.0 / 12.0) / _STEP))
        pos.append(p[::j])
        mass.append(j * _STEP * density[::j])
        sig.append(np.full(len(pos[-1]), sigma))

    for _ in range(count("filaments")):
        p = _curve(rng, h, w)
        # Brightness = linear density (mass per px of length); the peak follows from the width.
        b = bright()[0]
        line(p, np.full(len(p), b), rng.uniform(0.15, 0.9))
    for _ in range(count("membranes")):
        p, centre, contour = _closed_contour(rng, h, w)
        level = bright()[0]
        line(p, level * rng.uniform(0.6, 1.0, len(p)) ** 0.5, rng.uniform(0.3, 1.0))
        if rng.random() < 0.5:
            _fill_contour(canvas, centre, contour, level * rng.uniform(0.05, 0.2), r)
    n_puncta = count("puncta")
    if n_puncta:
        pos.append(rng.uniform([0, 0], [h, w], (n_puncta, 2)))
        mass.append(0.8 * bright(n_puncta))  # peak ~0.5-1 x mass: as bright as the other kinds
        sig.append(rng.uniform(0.1, 0.6, n_puncta))
    if pos:
        _splat(canvas, np.concatenate(pos) + r, np.concatenate(mass), np.concatenate(sig))
    for _ in range(count("blobs")):
        _blob(canvas, rng, (h, w), 0.8 * bright()[0], r)
    img = canvas[r : r + h, r : r + w]

    top = float(img.max())
    target = rng.uniform(*peak)
    offset = rng.uniform(*background)
    # Faint out-of-focus haze: a few very wide Gaussians (separable, cheap), a few % of the peak.
    haze = np.zeros((h, w))
    for _ in range(int(rng.integers(0, 4))):
        cy, cx = rng.uniform([0, 0], [h, w])
        s = rng.uniform(0.15, 0.5) * max(h, w)
        gy = np.exp(-0.5 * ((np.arange(h) - cy) / s) ** 2)
        gx = np.exp(-0.5 * ((np.arange(w) - cx) / s) ** 2)
        haze += rng.uniform(0.0, 0.03) * np.outer(gy, gx)
    scale = (target - offset - haze.max()) / top if top > 0 else 0.0
    out = offset + haze + scale * img
    return np.clip(out, 0.0, 1.0).astype(np.float32)
