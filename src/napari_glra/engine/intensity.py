"""The intensity contract: how any input image is put on the [0, 1] scale the models expect.

- A float image whose values lie in [0, 1] is used as it is (the scale the
  models were trained on; ``noise_level`` is the noise standard deviation on
  that scale, 0.01 = 1 %).  Noise may push a few values out: the test is that
  the 0.1st and 99.9th percentiles lie within ``[-0.25, 1.25]``.
- Any other image (integers of any width, floats outside [0, 1]) is mapped by
  the affine map ``(x - offset) / scale`` with ``offset`` the 0.1st percentile
  and ``scale`` the distance to the 99.9th percentile (min/max when the
  percentiles coincide, 1 for a constant image).  Results are mapped back with
  ``y * scale + offset``, so they are on the input's own intensity scale:
  offsets are kept and doubling the input's gain doubles the output.

The map is estimated from the data (a deterministic sample of planes and
pixels, the same for numpy and dask inputs), never from the dtype's range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["IntensityMap", "fit_intensity_map", "LOW_PERCENTILE", "HIGH_PERCENTILE"]

#: Percentiles of the robust affine map.
LOW_PERCENTILE = 0.1
HIGH_PERCENTILE = 99.9

#: Slack around [0, 1] for the percentiles of a float image used as it is (noise excursions:
#: 5 % noise reaches 0.16 below 0 at the 0.1st percentile of a dark image).
UNIT_SLACK = 0.25

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
        """Map to the [0, 1] scale (returns a new float32 array)."""
        out = np.asarray(x, dtype=np.float32)
        if self.identity:
            return out.copy() if out is x else out
        return ((out - np.float32(self.offset)) / np.float32(self.scale)).astype(np.float32, copy=False)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Map back to the input's intensity scale (in place on float32 ``y``, returned)."""
        y = np.asarray(y, dtype=np.float32)
        if not self.identity:
            y *= np.float32(self.scale)
            y += np.float32(self.offset)
        return y

    def to_dict(self) -> dict[str, float]:
        """Plain-dict form (for the result's info)."""
        return {"offset": self.offset, "scale": self.scale}


def _strided_sample(planes: list[np.ndarray], max_samples: int = MAX_SAMPLES) -> np.ndarray:
    total = sum(int(p.size) for p in planes)
    step = max(1, int(np.ceil(np.sqrt(total / max_samples))))
    return np.concatenate([np.asarray(p)[::step, ::step].ravel() for p in planes])


def fit_intensity_map(planes: list[np.ndarray], dtype: np.dtype) -> IntensityMap:
    """Affine map of the intensity contract, from a sample of an image's 2D planes.

    Parameters
    ----------
    planes : list of numpy.ndarray
        2D planes of the image (a deterministic sample of them for big stacks).
    dtype : numpy.dtype
        The image's dtype: floats whose sample lies in [0, 1] (up to
        :data:`UNIT_SLACK` at the 0.1st/99.9th percentiles) get the identity.

    Returns
    -------
    IntensityMap
        The map.
    """
    sample = _strided_sample(planes)
    lo_all, hi_all = float(sample.min()), float(sample.max())
    lo, hi = (float(v) for v in np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE]))
    if np.issubdtype(dtype, np.floating) and lo >= -UNIT_SLACK and hi <= 1.0 + UNIT_SLACK:
        return IntensityMap()
    span = hi - lo
    tiny = 1e-6 * max(abs(lo), abs(hi), 1e-30)
    if not span > tiny:
        lo, span = lo_all, hi_all - lo_all
    if not span > tiny:
        span = 1.0  # constant image: only the offset matters
    return IntensityMap(offset=lo, scale=span)
