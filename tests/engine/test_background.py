"""The noise-corrected background level: the intensity map's offset for dark-field models."""

from __future__ import annotations

import numpy as np
import pytest

from napari_glra.engine.background import background_level
from napari_glra.engine.intensity import IntensityContract, fit_intensity_map, intensity_contract
from napari_glra.physics.degrade import blur
from napari_glra.physics.kernels import make_kernel
from napari_glra.physics.synthetic import fluorescence_image


def _camera_frame(peak: float, seed: int) -> tuple[np.ndarray, float, float]:
    """uint16 frame of fluorescence at ``peak`` photons, offset 1000: frame, true background, noise."""
    rng = np.random.default_rng(seed)
    x = fluorescence_image((192, 192), rng=seed)
    clean = blur(x, make_kernel("gaussian", sigma=2.0), "valid")
    photons = rng.poisson(clean * peak) + rng.normal(0.0, 2.0, clean.shape)
    frame = np.round(1000 + 40 * photons).astype(np.uint16)
    background = peak * np.percentile(clean, 0.1)  # photons
    # the background's noise: 2 photons read noise and its own photon noise, 40 counts a photon
    return frame, float(1000 + 40 * background), float(40 * np.sqrt(4.0 + background))


@pytest.mark.parametrize("peak", [10.0, 30.0, 300.0])
def test_background_level_is_the_noise_free_percentile(peak):
    """Within 0.5 noise standard deviations of the true background; the plain percentile is ~3 below."""
    for seed in range(3):
        frame, true, sigma = _camera_frame(peak, seed)
        plain = np.percentile(frame, 0.1)
        assert (plain - true) / sigma < -2.0
        assert abs(background_level([frame], 0.1) - true) < 0.5 * sigma


def test_background_level_follows_gain_and_offset():
    frame, _, _ = _camera_frame(30.0, 0)
    base = background_level([frame], 0.1)
    assert background_level([2.5 * frame.astype(np.float64) - 300.0], 0.1) == pytest.approx(
        2.5 * base - 300.0
    )


def test_background_level_of_a_noise_free_flat_background_is_that_background():
    img = np.full((64, 64), 5.0)
    img[20:30, 20:30] = 9.0
    assert background_level([img], 0.1) == pytest.approx(5.0)
    assert background_level([np.full((2, 50), 3.0)], 0.1) == pytest.approx(3.0)  # too thin to average


def test_the_contract_chooses_the_offset():
    frame, true, sigma = _camera_frame(10.0, 1)
    plain = fit_intensity_map([frame], frame.dtype)
    dark = fit_intensity_map([frame], frame.dtype, IntensityContract(level=1.0, low="background"))
    assert plain.offset == pytest.approx(np.percentile(frame, 0.1))
    assert abs(dark.offset - true) < 0.5 * sigma
    # the 99.9th percentile still goes to the contract's level
    assert (np.percentile(frame, 99.9) - dark.offset) / dark.scale == pytest.approx(1.0)


def test_a_noisy_unit_scale_float_image_is_used_as_it_is_by_a_background_contract():
    """At 10 photons the plain 0.1st percentile of a [0, 1] image is far below 0; its background is not."""
    rng = np.random.default_rng(3)
    x = fluorescence_image((160, 160), rng=3)
    clean = blur(x, make_kernel("gaussian", sigma=2.0), "valid")
    y = rng.poisson(clean * 10) / 10 + rng.normal(0.0, 0.2, clean.shape)
    assert np.percentile(y, 0.1) < -0.25
    contract = intensity_contract(
        {"intensity": {"min_unit_high": 0.0, "high_level": 1.0, "low": "background"}}
    )
    assert fit_intensity_map([y], y.dtype, contract).identity
    assert not fit_intensity_map([y], y.dtype, IntensityContract(unit_high=0.0, level=1.0)).identity


def test_intensity_contract_reads_the_config_and_rejects_unknown_estimates():
    assert intensity_contract({}) == IntensityContract()
    c = intensity_contract({"intensity": {"high_level": 1.0, "low": "background"}})
    assert (c.level, c.low, c.unit_high) == (1.0, "background", IntensityContract().unit_high)
    with pytest.raises(ValueError, match="intensity.low"):
        intensity_contract({"intensity": {"low": "mode"}})


def test_shipped_microscopy_model_uses_the_background_level():
    from napari_glra.api import load_model

    assert intensity_contract(load_model("microscopy").config).low == "background"
    assert intensity_contract(load_model("default").config).low == "percentile"
