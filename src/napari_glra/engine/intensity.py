"""The intensity contract: how any input image is put on the [0, 1] scale the models expect.

- A float image already on the unit scale (its 0.1st and 99.9th percentiles lie
  within ``[-0.25, 1.25]``, its median at most 1 and the 99.9th reaches
  :data:`MIN_UNIT_HIGH`) is used
  as it is: that is the scale the models were trained on (saturated pixels at 1).
- Any other image (integers of any width, floats on another scale, dim floats)
  is mapped by the affine map ``(x - offset) / scale`` with ``offset`` the 0.1st
  percentile and the 99.9th put at :data:`HIGH_LEVEL` (0.9): ``scale`` is the
  distance between the percentiles divided by 0.9 (min/max when the percentiles
  coincide, 1 for a constant image).  Clipped data, whose maximum is shared by at
  least :data:`CLIPPED_FRACTION` of the pixels (a saturated camera, an overexposed
  8-bit photo), have that maximum put at 1: the models read 1 as the saturation
  level.  Why 0.9: the models restore an unsaturated picture whose brightest parts
  reach 1 worse (they take them for saturated): mapping the 99.9th percentile to 1
  cost up to 0.3 dB against the same picture on its own [0, 1] scale, 0.9 at most
  0.14 dB, and the mapped pictures restore 0.0-0.3 dB better (six image/kernel
  pairs, ``tests/engine/test_reliability.py``).
- Results are mapped back with ``y * scale + offset``: they are on the input's own
  intensity scale, offsets are kept, and multiplying the input by any factor
  multiplies the output by the same factor.  The arithmetic is in float64 for
  float64 and 32/64-bit integer inputs, so large offsets keep their detail.

``noise_level`` is the noise standard deviation in units of the map's ``scale``
(reported as ``info["intensity_map"]``): for an image used as it is, the noise
on its own [0, 1] scale (0.01 = 1 %); for any other image, a fraction of the
map's scale (the 0.1st-99.9th percentile span / 0.9, or the span to the clipping
level).  Either way it is the noise on the scale the
models see, so the same picture at any scale has the same ``noise_level``.  The map is
estimated from the data (a deterministic sample of planes and pixels, the same
for numpy and dask inputs), never from the dtype's range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_glra.engine.background import background_level

__all__ = [
    "CLIPPED_FRACTION",
    "HIGH_LEVEL",
    "HIGH_PERCENTILE",
    "LOW_PERCENTILE",
    "LOW_ESTIMATES",
    "IntensityContract",
    "IntensityMap",
    "fit_intensity_map",
    "intensity_contract",
]

#: Percentiles of the robust affine map.
LOW_PERCENTILE = 0.1
HIGH_PERCENTILE = 99.9

#: Slack around [0, 1] for the percentiles of a float image used as it is (noise excursions:
#: 5 % noise reaches 0.16 below 0 at the 0.1st percentile of a dark image).
UNIT_SLACK = 0.25

#: Smallest 99.9th percentile of a float image used as it is: a dimmer image is scaled like any
#: other (the models restore dim images worse: measured -1.5 dB at half brightness), so that the
#: result depends little on the input's scale.
MIN_UNIT_HIGH = 0.5

#: Level the 99.9th percentile of a mapped image is put at (models may set their own,
#: ``intensity.high_level`` in their config: see :class:`IntensityContract`).
HIGH_LEVEL = 0.9

#: Fraction of the sampled pixels at exactly the maximum from which the data count as clipped
#: (saturated): their maximum is then put at 1.
CLIPPED_FRACTION = 0.001

#: Largest number of pixels the percentiles are computed on (strided subsample above).
MAX_SAMPLES = 4_000_000


@dataclass(frozen=True)
class IntensityMap:
    """Affine map ``x -> (x - offset) / scale`` onto the models' [0, 1] scale."""

    offset: float = 0.0
    scale: float = 1.0

    @property
    def identity(self) -> bool:
        """True when the map leaves values unchanged."""
        return self.offset == 0.0 and self.scale == 1.0

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Map to the [0, 1] scale (returns a new float32 array).

        Computed in float64 for inputs with more than float32's precision (float64,
        32/64-bit integers), so that an offset far larger than the range keeps its detail.
        """
        x = np.asarray(x)
        if self.identity:
            out = x.astype(np.float32, copy=False)
            return out.copy() if out is x else out
        work = np.float64 if _wide(x.dtype) else np.float32
        out = x.astype(work, copy=True)
        out -= work(self.offset)
        out /= work(self.scale)
        return out.astype(np.float32, copy=False)

    def inverse(self, y: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Map back to the input's intensity scale, as ``dtype`` (in place when ``y`` has it)."""
        y = np.asarray(y, dtype=dtype)
        if not self.identity:
            y *= dtype(self.scale)
            y += dtype(self.offset)
        return y

    def to_dict(self) -> dict[str, float]:
        """Plain-dict form (for the result's info)."""
        return {"offset": self.offset, "scale": self.scale}


def _wide(dtype: np.dtype) -> bool:
    """Values that float32 cannot hold exactly: float64 and 32/64-bit integers."""
    dtype = np.dtype(dtype)
    return dtype.itemsize > 4 or (dtype.kind in "iu" and dtype.itemsize == 4)


def _strided_sample(planes: list[np.ndarray], max_samples: int = MAX_SAMPLES) -> tuple[np.ndarray, int]:
    total = sum(int(p.size) for p in planes)
    step = max(1, int(np.ceil(np.sqrt(total / max_samples))))
    return np.concatenate([np.asarray(p)[::step, ::step].ravel() for p in planes]), step


@dataclass(frozen=True)
class IntensityContract:
    """A model's settings of the intensity contract (``intensity`` in its ``config.json``).

    Attributes
    ----------
    unit_high : float
        Smallest 99.9th percentile of a float image used as it is (:data:`MIN_UNIT_HIGH`).
        A model trained on the physical [0, 1] scale of its images (``microscopy``: dim,
        photon-limited fluorescence) sets 0: every float image within [0, 1] is used as it is.
    level : float
        Where the 99.9th percentile of a mapped image goes (:data:`HIGH_LEVEL`).  The
        ``microscopy`` model was trained with the bright end of its fluorescence images at
        about 1 (random gains, as a camera frame mapped to 1 gives) and sets 1.
    low : {"percentile", "background"}
        How the offset is estimated: the 0.1st percentile of the pixels, or the
        noise-corrected background level (:func:`napari_glra.engine.background.background_level`),
        for models trained on a dark background at 0 (``microscopy``).
    """

    unit_high: float = MIN_UNIT_HIGH
    level: float = HIGH_LEVEL
    low: str = "percentile"


#: The low-end estimates a contract may name.
LOW_ESTIMATES = ("percentile", "background")


def intensity_contract(model_config: dict) -> IntensityContract:
    """The contract a model's config sets (``intensity.min_unit_high``, ``.high_level``, ``.low``).

    Settings it does not name keep the natural-image models' defaults.
    """
    rec = model_config.get("intensity")
    rec = rec if isinstance(rec, dict) else {}
    default = IntensityContract()
    unit_high, level = rec.get("min_unit_high"), rec.get("high_level")
    low = rec.get("low", default.low)
    if low not in LOW_ESTIMATES:
        raise ValueError(f"model config: intensity.low must be one of {LOW_ESTIMATES}, got {low!r}")
    return IntensityContract(
        unit_high=float(unit_high) if isinstance(unit_high, (int, float)) else default.unit_high,
        level=float(level) if isinstance(level, (int, float)) else default.level,
        low=low,
    )


def fit_intensity_map(
    planes: list[np.ndarray],
    dtype: np.dtype,
    contract: IntensityContract | None = None,
) -> IntensityMap:
    """Affine map of the intensity contract, from a sample of an image's 2D planes.

    Parameters
    ----------
    planes : list of numpy.ndarray
        2D planes of the image (a deterministic sample of them for big stacks).
    dtype : numpy.dtype
        The image's dtype: floats on the unit scale (0.1st/99.9th percentiles
        within :data:`UNIT_SLACK` of [0, 1], the 99.9th at least
        the contract's ``unit_high``) get the identity.
    contract : IntensityContract, optional
        The model's settings (default: the natural-image models'): the smallest 99.9th
        percentile of a float image used as it is, where the 99.9th percentile of a
        mapped image goes (the maximum of clipped data goes to 1), and how the offset
        is estimated.

    Returns
    -------
    IntensityMap
        The map.
    """
    contract = IntensityContract() if contract is None else contract
    sample, step = _strided_sample(planes)
    lo_all, hi_all = float(sample.min()), float(sample.max())
    lo, median, hi = (float(v) for v in np.percentile(sample, [LOW_PERCENTILE, 50.0, HIGH_PERCENTILE]))
    if contract.low == "background":
        lo = min(background_level(planes, LOW_PERCENTILE, step), median)
    # The median above 1 is no unit-scale image (the models read values above 1 as saturated: a
    # flat image at 1.04-1.09 came back 0.04 too dark).
    in_unit_range = lo >= -UNIT_SLACK and hi <= 1.0 + UNIT_SLACK and median <= 1.0
    on_unit_scale = in_unit_range and hi >= contract.unit_high
    if np.issubdtype(dtype, np.floating) and on_unit_scale:
        return IntensityMap()
    span = hi - lo
    # A span within the rounding of the values' magnitude is no span (a constant image).
    eps = np.finfo(np.float64 if _wide(dtype) else np.float32).eps
    tiny = 64 * eps * max(abs(lo), abs(hi), 1e-30)
    if not span > tiny:
        lo, span = lo_all, hi_all - lo_all
    if not span > tiny:
        return IntensityMap(offset=lo, scale=1.0)  # constant image: only the offset matters
    if np.count_nonzero(sample == hi_all) >= max(2, CLIPPED_FRACTION * sample.size):
        return IntensityMap(offset=lo, scale=hi_all - lo)  # clipped: the clipping level at 1
    return IntensityMap(offset=lo, scale=span / contract.level)
