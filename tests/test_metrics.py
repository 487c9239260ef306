"""The quality measures: PSNR, SSIM and the spectral resolution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_glra.metrics import pooled_resolution, psnr, resolution, ring_snr
from napari_glra.physics.synthetic import fluorescence_image


@pytest.fixture(scope="module")
def cells():
    return fluorescence_image((160, 160), np.random.default_rng(0)).astype(np.float64)


def test_identical_images_resolve_to_the_sampling_limit(cells):
    f, snr = ring_snr(cells, cells)
    assert f[0] == 0 and f[-1] == pytest.approx(0.5, abs=1 / 160)
    assert np.all(np.isinf(snr))
    assert resolution(cells, cells) == 2.0


def test_resolution_coarsens_with_noise_and_with_blur(cells):
    rng = np.random.default_rng(1)
    noisy = [resolution(cells + s * rng.standard_normal(cells.shape), cells) for s in (0.005, 0.02, 0.1)]
    blurred = [resolution(gaussian_filter(cells, s), cells) for s in (0.7, 1.5, 3.0)]
    assert noisy[0] < noisy[1] < noisy[2] and noisy[2] > 4
    assert blurred[0] < blurred[1] < blurred[2] and blurred[2] > 8


def test_smoothing_into_patches_loses_on_resolution_not_on_psnr(cells):
    """Noise smoothed away with the filaments: PSNR rises, the resolution measure says coarser."""
    rng = np.random.default_rng(2)
    noisy = cells + 0.02 * rng.standard_normal(cells.shape)
    blobs = gaussian_filter(noisy, 2.5)
    assert psnr(blobs, cells) > psnr(noisy, cells)
    assert resolution(blobs, cells) > resolution(noisy, cells) + 0.5


def test_an_estimate_wrong_at_every_scale_gets_the_image_size(cells):
    rng = np.random.default_rng(3)
    assert resolution(rng.random(cells.shape), cells) == pytest.approx(160.0)


def test_pooled_resolution_of_a_set(cells):
    """One pair: the per-image value; a set of any sizes: one crossing between its members'."""
    sharp, soft = gaussian_filter(cells, 1.0), gaussian_filter(cells, 3.0)
    assert pooled_resolution([sharp], [cells]) == pytest.approx(resolution(sharp, cells))
    small = cells[:128, :144]
    soft_small = gaussian_filter(small, 3.0)
    r_sharp, r_soft = resolution(sharp, cells), resolution(soft_small, small)
    assert r_sharp < r_soft
    assert r_sharp < pooled_resolution([sharp, soft_small], [cells, small]) < r_soft
    assert pooled_resolution([soft, soft], [cells, cells]) == pytest.approx(resolution(soft, cells))
    with pytest.raises(ValueError, match="as many estimates as references"):
        pooled_resolution([sharp], [cells, cells])
    with pytest.raises(ValueError, match="shapes differ"):
        pooled_resolution([small], [cells])
