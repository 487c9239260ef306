"""Noise estimation (napari_glra.engine.noise) and its use by the engine."""

from __future__ import annotations

import numpy as np
import pytest

from napari_glra.api import deconvolve, estimate_noise
from napari_glra.engine.intensity import HIGH_LEVEL
from napari_glra.engine.noise import estimate_noise_plane, spectral_noise
from napari_glra.metrics import psnr
from napari_glra.physics.degrade import degrade
from napari_glra.physics.kernels import FAMILIES, make_kernel, sample_kernel

NOISE_LEVELS = (0.005, 0.01, 0.02, 0.05)


@pytest.mark.slow
def test_estimate_within_30_percent_on_blurred_natural_images(natural_images):
    """With the kernel (what deconvolve does): every case within 30 %; without it: nearly every case."""
    rng = np.random.default_rng(0)
    ratios = []
    for x in natural_images(10, 160):
        for fam in FAMILIES:
            k, _ = sample_kernel(fam, rng)
            for s in NOISE_LEVELS:
                y, _ = degrade(x, k, noise=s, seed=rng)
                ratios.append((s, estimate_noise(y, kernel=k) / s, estimate_noise(y) / s))
    r = np.array(ratios)
    assert np.all(np.abs(r[:, 1] - 1) < 0.3), r[np.abs(r[:, 1] - 1) >= 0.3]
    assert abs(np.median(r[:, 1]) - 1) < 0.05  # and unbiased
    assert np.mean(np.abs(r[:, 2] - 1) < 0.3) >= 0.95
    assert abs(np.median(r[:, 2]) - 1) < 0.05


def test_spectral_estimate_needs_a_suppressing_kernel():
    rng = np.random.default_rng(3)
    y = 0.5 + 0.01 * rng.standard_normal((96, 96))
    assert spectral_noise(y, make_kernel("gaussian", sigma=2.0)) == pytest.approx(0.01, rel=0.1)
    assert spectral_noise(y, np.ones((1, 1))) is None  # a delta suppresses nothing
    assert spectral_noise(y[:20, :20], make_kernel("gaussian", sigma=2.0)) is None  # too small


def test_restoration_with_estimate_close_to_true_noise(natural_images, tiny_model):
    rng = np.random.default_rng(1)
    for x in natural_images(3, 96, offset=6):
        for k in (make_kernel("gaussian", sigma=1.6), make_kernel("disk", radius=3.0)):
            for s in (0.005, 0.02):
                y, xs = degrade(x, k, noise=s, seed=rng)
                est, info = deconvolve(y, k, model=tiny_model, return_info=True)
                # noise_level is on the models' scale: the image's own for a unit-scale image,
                # a fraction of the intensity map's scale for a dim one
                scale = info["intensity_map"]["scale"]
                true = deconvolve(y, k, noise_level=s / scale, model=tiny_model)
                assert info["noise_estimated"]
                assert abs(info["noise_level"] * scale / s - 1) < 0.3
                assert abs(psnr(est, xs, border=8) - psnr(true, xs, border=8)) < 0.3


def test_pure_noise_and_constant():
    rng = np.random.default_rng(0)
    assert estimate_noise(0.5 + 0.02 * rng.standard_normal((128, 128))) == pytest.approx(0.02, rel=0.05)
    assert estimate_noise(np.full((64, 64), 0.3)) == 0.0


def test_noise_is_on_the_mapped_scale():
    """A uint16 image's noise reads in units of the map's scale (the percentile span / 0.9)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:128, :128]
    clean = 0.2 + 0.6 * (0.5 + 0.5 * np.sin(xx / 9.0) * np.cos(yy / 13.0))
    y = clean + 0.02 * rng.standard_normal(clean.shape)
    est01 = estimate_noise(y)
    span = (np.percentile(y, 99.9) - np.percentile(y, 0.1)) / HIGH_LEVEL
    counts = np.round(1000 + 40000 * y).astype(np.uint16)
    assert estimate_noise(counts) == pytest.approx(est01 / span, rel=0.03)
    # float images outside [0, 1] go through the same map: gain-invariant
    assert estimate_noise(7.0 * y + 100) == pytest.approx(estimate_noise(y + 0.0) / span, rel=0.03)


def test_stack_and_rgb_use_the_median_over_planes():
    rng = np.random.default_rng(2)
    base = np.full((3, 80, 80), 0.5)
    sig = np.array([0.01, 0.02, 0.03])[:, None, None]
    stack = base + sig * rng.standard_normal(base.shape)
    assert estimate_noise(stack) == pytest.approx(0.02, rel=0.1)
    rgb = np.moveaxis(stack, 0, -1)
    assert estimate_noise(rgb) == pytest.approx(0.02, rel=0.1)
    assert estimate_noise(stack, channel_axis=0) == pytest.approx(0.02, rel=0.1)


def test_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        estimate_noise(np.array([[0.1, np.nan], [0.2, 0.3]]))
    with pytest.raises(ValueError, match="too small"):
        estimate_noise_plane(np.zeros((1, 1)))
    with pytest.raises(ValueError, match="at least 2D"):
        estimate_noise(np.zeros(10))
    with pytest.raises(TypeError, match="dtype"):
        estimate_noise(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize(("family", "params"), [("gaussian", {"sigma": 3.0}), ("disk", {"radius": 6.0})])
def test_noise_estimators_in_torch_match_numpy(family, params):
    """The GPU path's estimators (run here on the CPU) give the numpy ones' values."""
    import torch
    from skimage import data

    from napari_glra.engine.noise import _spectral_noise_tensor, noise_on_device, pca_noise

    k = make_kernel(family, **params)
    y, _ = degrade(data.camera()[:300, :320] / 255.0, k, noise=0.01, seed=4)
    assert noise_on_device(y, k, "cpu") == pytest.approx(estimate_noise_plane(y, k), rel=1e-9)
    assert noise_on_device(y, None, "cpu") == pytest.approx(pca_noise(y), rel=1e-9)
    assert _spectral_noise_tensor(torch.as_tensor(y), k) == pytest.approx(spectral_noise(y, k), rel=1e-9)
