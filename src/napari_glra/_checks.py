"""Argument checks shared by the classical baselines and the engine's border extension.

Each raises ``ValueError`` with a message naming the argument; they import nothing
else of napari_glra.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["check_image_2d", "check_kernel_2d", "positive", "positive_int", "positive_values"]


def check_image_2d(y: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """A finite, real, non-empty 2D image as ``dtype``."""
    y = np.asarray(y)
    if y.ndim != 2:
        raise ValueError(f"the image must be 2D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("the image is empty")
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"the image must be real-valued, got dtype {y.dtype}")
    y = y.astype(dtype, copy=False)
    if not np.all(np.isfinite(y)):
        raise ValueError("the image contains NaN or inf")
    return y


def check_kernel_2d(k: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """A finite 2D kernel with a positive sum, normalised to sum 1 (float64)."""
    k = np.asarray(k)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"the kernel must be a non-empty 2D array, got shape {k.shape}")
    k = k.astype(np.float64, copy=False)
    if not np.all(np.isfinite(k)):
        raise ValueError("the kernel contains NaN or inf")
    # A valid observation may be smaller than the kernel (the sharp image
    # behind it is y.shape + k.shape - 1), but not much: a kernel over twice
    # the image size is almost surely a swap of the two arguments.
    if k.shape[0] > 2 * image_shape[0] or k.shape[1] > 2 * image_shape[1]:
        raise ValueError(
            f"the kernel {k.shape} is larger than twice the image {image_shape}; "
            "are the image and the kernel swapped?"
        )
    s = k.sum()
    if not s > 0:
        raise ValueError(f"the kernel must have a positive sum, got {s!r}")
    return k / s


def positive(value: float, name: str) -> float:
    """``value`` as a finite float > 0, or a ``ValueError`` naming ``name``."""
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return v


def positive_values(values: float | Sequence[float], name: str) -> np.ndarray:
    """A non-empty 1D float64 array of positive numbers."""
    arr = np.atleast_1d(np.asarray(values, dtype=object))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1D sequence of positive numbers")
    return np.array([positive(v, name) for v in arr], dtype=np.float64)


def positive_int(value: int, name: str) -> int:
    """``value`` as an int >= 1 (an integral float is accepted)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    v = int(value)
    if v < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return v
