"""The blur-consistent border extension (napari_glra.engine.border)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_glra.classical import _Grid, _valid_admm
from napari_glra.engine.border import border_extension, border_pad, extend_observation
from napari_glra.glra.pseudo_inverse import VALID_MU
from napari_glra.physics.kernels import make_kernel


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_extension_is_the_reblurred_valid_wiener_estimate(dtype):
    """The torch one-filter ADMM gives the iterates of the classical valid-Wiener ADMM."""
    rng = np.random.default_rng(4)
    y = rng.random((56, 46)).astype(np.float32)  # grids of 100 x 90 px: the same in both
    if dtype == np.uint8:
        y = np.round(y * 255).astype(np.uint8)
    k = make_kernel("motion", length=11, seed=1)
    ext, crop = extend_observation(y.astype(dtype), k, 6e-3, iterations=12, relaxation=1.0)
    g = _Grid(y, k, np.float32)
    _, Kx = _valid_admm(g, np.array([6e-3], np.float32)[:, None, None], g.P[None], 12, np.float32(VALID_MU))
    np.testing.assert_array_equal(ext[crop], y)
    outside = g.mask == 0
    scale = 255 if dtype == np.uint8 else 1
    np.testing.assert_allclose(ext[outside], Kx[0][outside], atol=1e-5 * scale)
    assert ext.dtype == np.float32 and ext.shape == g.shape


def test_relaxed_extension_is_nearer_the_converged_one():
    """20 over-relaxed iterations (the default) get closer to the limit than 30 plain ones."""
    y = np.random.default_rng(5).random((48, 40)).astype(np.float32)
    k = make_kernel("motion", length=9, seed=4)
    ref, crop = extend_observation(y, k, 6e-3, iterations=3000, relaxation=1.0)
    errs = {}
    for it, alpha in ((20, 1.8), (30, 1.0), (20, 1.0)):
        e, _ = extend_observation(y, k, 6e-3, iterations=it, relaxation=alpha)
        errs[(it, alpha)] = np.sqrt(np.mean((e - ref) ** 2))
    assert errs[(20, 1.8)] < errs[(30, 1.0)] < errs[(20, 1.0)], errs
    default, _ = extend_observation(y, k, 6e-3)
    np.testing.assert_array_equal(default, extend_observation(y, k, 6e-3, iterations=20, relaxation=1.8)[0])


def test_extension_leaves_the_input_alone():
    y = np.random.default_rng(0).random((30, 30)).astype(np.float32)
    y.setflags(write=False)
    before = y.copy()
    ext, crop = extend_observation(y, make_kernel("gaussian", sigma=2.0), 0.006)
    np.testing.assert_array_equal(y, before)
    ext[crop] = 0  # the result does not share memory with the input
    np.testing.assert_array_equal(y, before)


@pytest.mark.parametrize(
    ("image", "kernel", "kwargs", "match"),
    [
        (np.full((20, 20), np.nan), np.ones((3, 3)) / 9, {}, "NaN"),
        (np.zeros((20,)), np.ones((3, 3)) / 9, {}, "2D"),
        (np.zeros((20, 20)), np.ones((3, 3)) / 9, {"iterations": 0}, "iterations"),
        (np.zeros((20, 20)), np.ones((3, 3)) / 9, {"balance": -1.0}, "balance"),
        (np.zeros((20, 20)), np.ones((3, 3)) / 9, {"relaxation": 2.0}, "relaxation"),
        (np.zeros((20, 20)), np.ones((3, 3)) / 9, {"relaxation": 0.0}, "relaxation"),
        (np.zeros((20, 20)), np.ones((45, 45)), {}, "swapped"),
    ],
)
def test_extension_rejects_bad_input(image, kernel, kwargs, match):
    args = {"balance": 0.006, **kwargs}
    with pytest.raises(ValueError, match=match):
        extend_observation(image, kernel, **args)


def test_border_extension_width():
    k = make_kernel("motion", length=9, seed=2)
    y = np.random.default_rng(1).random((33, 41)).astype(np.float32)
    ext = border_extension(y, k, 0.01)
    p = border_pad(k.shape)
    assert ext.shape == (33 + 2 * p, 41 + 2 * p) and ext.flags.c_contiguous
    np.testing.assert_array_equal(ext[p:-p, p:-p], y)


def test_fft_grid_lengths_are_even_and_11_smooth():
    from napari_glra._fft import next_fast_len

    for n in range(1, 3000, 7):
        m = next_fast_len(n)
        assert m >= n and m % 2 == 0 and m - n <= 16 + n // 32
        r = m
        for f in (2, 3, 5, 7, 11):
            while r % f == 0:
                r //= f
        assert r == 1
    assert next_fast_len(1108) == 1120  # scipy's 5-smooth real length would be the odd 1125
