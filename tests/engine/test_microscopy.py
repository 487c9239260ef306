"""Microscopy workflow: uint16 stacks with a camera offset, per-plane 3D stacks, fluorescence noise.

Uses the tiny model of ``conftest.py`` (untrained network, basis for Gaussian
sigma 1-2 px and disks of radius 2-4 px): these tests check the intensity and
stack plumbing of :func:`napari_glra.api.deconvolve`, not restoration quality.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_glra._sample_data import synthetic_fluorescence
from napari_glra.api import deconvolve, estimate_noise
from napari_glra.engine.intensity import fit_intensity_map
from napari_glra.physics.degrade import blur
from napari_glra.physics.kernels import make_kernel

OFFSET = 100.0
PEAK = 4000.0  # photons at the brightest structure


def _blur_same(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Blur with output aligned to ``x`` (reflect padding, valid convolution)."""
    p = k.shape[0] // 2
    return blur(np.pad(x, p, mode="reflect"), k)


def camera_image(
    x: np.ndarray,
    k: np.ndarray,
    rng: np.random.Generator,
    peak: float = PEAK,
    read: float = 3.0,
    offset: float = OFFSET,
) -> tuple[np.ndarray, np.ndarray]:
    """A uint16 camera frame of ``x`` (values in [0, 1]) blurred by ``k``: offset + Poisson + read noise.

    Returns the frame and the noise-free expected counts (float).
    """
    clean = offset + peak * _blur_same(x / x.max(), k)
    counts = offset + rng.poisson(clean - offset) + rng.normal(0.0, read, x.shape)
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16), clean


@pytest.fixture(scope="module")
def kernel():
    return make_kernel("gaussian", sigma=1.5)


def test_uint16_with_offset_restores_on_its_own_scale(tiny_model, kernel):
    rng = np.random.default_rng(0)
    x = synthetic_fluorescence((96, 96), seed=8).astype(np.float64)
    y, clean = camera_image(x, kernel, rng)
    # thin structures: the blur lowers the peaks well below PEAK
    assert y.dtype == np.uint16 and y.min() >= 90 and y.max() > OFFSET + 0.1 * PEAK
    out, info = deconvolve(y, kernel, model=tiny_model, return_info=True)
    assert out.dtype == np.float32 and out.shape == y.shape
    assert np.all(np.isfinite(out))
    # the camera offset and the gain are kept: same intensity scale as the input
    assert info["intensity_map"]["offset"] == pytest.approx(np.percentile(y, 0.1), abs=1)
    assert abs(out.mean() / y.mean() - 1) < 0.25
    assert abs((out.mean() - OFFSET) / (y.mean() - OFFSET) - 1) < 0.25
    bg = x < 0.05  # dark background of the truth
    assert abs(np.median(out[bg]) - np.median(y[bg])) < 0.1 * (y.max() - OFFSET)
    # bright structures are not clipped: restored peaks exceed the blurred ones and the map's range
    hi = info["intensity_map"]["offset"] + info["intensity_map"]["scale"]
    assert out.max() > y.max() > hi * 0.9
    assert np.count_nonzero(out > hi) > 0
    assert np.count_nonzero(out >= out.max() * (1 - 1e-6)) <= 2  # no plateau at a clip value
    # deconvolution sharpens: closer to the blur-free truth than the input where there is signal
    truth = OFFSET + PEAK * x / x.max()
    c = slice(8, -8)
    err_in = np.abs(y[c, c].astype(float) - truth[c, c]).mean()
    err_out = np.abs(out[c, c] - truth[c, c]).mean()
    assert err_out < err_in


def test_uint16_gain_and_offset_equivariance(tiny_model, kernel):
    """Doubling the gain (same offset) doubles the restored signal above the offset."""
    rng = np.random.default_rng(1)
    x = synthetic_fluorescence((64, 64), seed=5).astype(np.float64)
    _, clean = camera_image(x, kernel, rng)
    a = np.round(clean).astype(np.uint16)
    b = np.round(OFFSET + 2 * (clean - OFFSET)).astype(np.uint16)
    ra = deconvolve(a, kernel, model=tiny_model, noise_level=0.01)
    rb = deconvolve(b, kernel, model=tiny_model, noise_level=0.01)
    np.testing.assert_allclose(rb - OFFSET, 2 * (ra - OFFSET), rtol=0, atol=0.01 * (b.max() - OFFSET))


def test_output_dtype_input_rounds_without_wrapping(tiny_model, kernel):
    rng = np.random.default_rng(2)
    y, _ = camera_image(synthetic_fluorescence((64, 64), seed=1).astype(np.float64), kernel, rng)
    out = deconvolve(y, kernel, model=tiny_model, noise_level=0.01, output_dtype="input")
    assert out.dtype == np.uint16
    f = deconvolve(y, kernel, model=tiny_model, noise_level=0.01)
    np.testing.assert_array_equal(out, np.clip(np.round(f), 0, 65535).astype(np.uint16))


def test_3d_stack_with_2d_psf_is_processed_per_plane(tiny_model, kernel):
    rng = np.random.default_rng(3)
    planes = []
    for z in range(3):
        x = synthetic_fluorescence((64, 64), seed=10 + z).astype(np.float64)
        if z == 1:
            x = np.full_like(x, 1e-9)  # an empty plane: offset and noise only
        planes.append(camera_image(x, kernel, rng, peak=0.0 if z == 1 else PEAK)[0])
    stack = np.stack(planes)
    assert stack.shape == (3, 64, 64) and stack.dtype == np.uint16
    out = deconvolve(stack, kernel, model=tiny_model, noise_level=0.01)
    assert out.shape == stack.shape and out.dtype == np.float32
    # no blur or leakage along z: the empty plane stays at the offset, the others keep their signal
    assert abs(np.median(out[1]) - OFFSET) < 10
    assert out[1].std() < 0.05 * out[0].std()
    for z in (0, 2):
        assert abs(out[z].mean() / stack[z].mean() - 1) < 0.25
    # each plane is restored on its own: same result as restoring the plane alone with the stack's map
    imap = fit_intensity_map([p for p in stack], stack.dtype)
    for z in range(3):
        plane01 = imap.forward(stack[z])
        alone = imap.inverse(deconvolve(plane01, kernel, model=tiny_model, noise_level=0.01).copy())
        np.testing.assert_allclose(out[z], alone, rtol=0, atol=1e-3 * imap.scale)


def test_3d_psf_with_a_stack_says_what_to_do(tiny_model, kernel):
    stack = np.zeros((2, 32, 32), np.uint16) + 100
    bead = np.stack([kernel, kernel])
    with pytest.raises(ValueError, match="prepare_psf"):
        deconvolve(stack, bead, model=tiny_model, noise_level=0.01)


# --------------------------------------------------------------------------- noise on fluorescence images


@pytest.mark.parametrize("peak", [30.0, 100.0, 300.0, 1000.0])
@pytest.mark.parametrize("read", [0.002, 0.01])
def test_estimate_noise_on_fluorescence_within_30_percent(peak, read):
    """Dark background, sparse filaments and blobs, Poisson-Gaussian noise (float [0, 1] image).

    The reference is the RMS of the actual noise (the single standard deviation a
    Gaussian-noise model should be given).  With the microscopy model these float
    images are used on their own [0, 1] scale; with the natural-image models a dim
    image is mapped first and the estimate is in units of the map's scale.
    """
    rng = np.random.default_rng(int(peak) + int(1000 * read))
    k = make_kernel("defocus", na=1.4, wavelength=0.52, pixel_size=0.08, defocus=0.4, size=31)
    for seed in range(2):
        x = synthetic_fluorescence((128, 128), seed=seed).astype(np.float64)
        clean = _blur_same(x, k)
        y = rng.poisson(clean * peak) / peak + rng.normal(0.0, read, x.shape)
        true = np.std(y - clean)
        assert estimate_noise(y, model="microscopy") == pytest.approx(true, rel=0.3)
        assert estimate_noise(y, model="microscopy") == pytest.approx(true, rel=0.1)  # within a few %
        scale = fit_intensity_map([y], y.dtype).scale
        assert estimate_noise(y) * scale == pytest.approx(true, rel=0.1)


def test_estimate_noise_on_uint16_camera_frames():
    """On a uint16 frame the estimate is on the mapped [0, 1] scale: noise counts / the map's range."""
    rng = np.random.default_rng(7)
    k = make_kernel("gaussian", sigma=2.0)
    for peak in (200.0, 1000.0, 4000.0):
        x = synthetic_fluorescence((128, 128), seed=2).astype(np.float64)
        y, clean = camera_image(x, k, rng, peak=peak, read=3.0)
        imap = fit_intensity_map([y], y.dtype)
        true = np.std(y - clean) / imap.scale
        assert estimate_noise(y) == pytest.approx(true, rel=0.3)


# --------------------------------------------------------------------------- the real-data example script


def _example_module():
    from _scripts import load_script

    return load_script("benchmarks/microscopy_example.py")


def test_example_script_skips_without_data(tmp_path, capsys):
    mod = _example_module()
    assert mod.main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "figs")]) == 0
    assert "skipped" in capsys.readouterr().out
    assert not (tmp_path / "figs").exists()


def test_example_script_writes_the_parameter_table_between_markers(tmp_path):
    mod = _example_module()
    doc = tmp_path / "microscopy.md"
    doc.write_text(f"intro\n\n{mod.MARK_BEGIN}\nold\n{mod.MARK_END}\n\nafter\n", encoding="utf-8")
    params = {
        "image": "img",
        "psf": "psf",
        "intensity_map": {"offset": 100.0, "scale": 2000.0},
        "noise_level": 0.01,
        "glra": {"model": "m", "kernel_fit_error": 0.002, "seconds": 1.5},
        "wiener": {"balance": 0.003},
        "richardson_lucy": {"iterations": 25},
    }
    assert mod.write_docs({"bead": params}, doc)
    text = doc.read_text(encoding="utf-8")
    assert "old" not in text and "| bead | Richardson–Lucy | 25 iterations" in text
    assert text.startswith("intro") and text.rstrip().endswith("after")
    assert not mod.write_docs({"bead": params}, tmp_path / "missing.md")
