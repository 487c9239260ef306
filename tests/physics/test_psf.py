import numpy as np
import pytest
from scipy import ndimage

from napari_glra.physics.kernels import make_kernel
from napari_glra.physics.psf import (
    ABSOLUTE_MAX_SIZE,
    MAX_KERNEL_SIZE,
    NegativePSFWarning,
    estimate_background,
    prepare_psf,
    resample_psf,
    select_plane,
)


def _com_offset(k):
    c = np.array(ndimage.center_of_mass(k))
    return np.abs(c - (np.array(k.shape) - 1) / 2).max()


def _sd(k):
    r = np.arange(k.shape[0]) - k.shape[0] // 2
    return float(np.sqrt((k.sum(1) * r**2).sum() / k.sum()))


def _gauss(shape, centre, sigma, amp=1.0):
    yy, xx = np.indices(shape, dtype=float)
    return amp * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))


def test_prepared_kernel_properties():
    k = prepare_psf(make_kernel("disk", radius=3))
    assert k.dtype == np.float64 and k.ndim == 2
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert np.all(k >= 0) and k.sum() == pytest.approx(1.0)


def test_centred_kernel_is_unchanged():
    g = make_kernel("gaussian", sigma=1.5, size=15)
    np.testing.assert_allclose(prepare_psf(g), g, atol=1e-12)


@pytest.mark.parametrize("centre", [(11.0, 17.0), (14.3, 9.6), (8.5, 20.5)])
def test_off_centre_psf_is_centred(centre):
    psf = _gauss((30, 31), centre, 2.0)
    k = prepare_psf(psf)
    assert k.shape[0] % 2 == 1
    assert _com_offset(k) < 0.02
    assert _sd(k) == pytest.approx(2.0, rel=0.03)


def test_peak_centring():
    # A bright core plus an asymmetric faint wing: peak and centre of mass differ.
    psf = _gauss((41, 41), (18.0, 23.0), 1.5) + _gauss((41, 41), (18.0, 30.0), 3.0, 0.05)
    k = prepare_psf(psf, center="peak")
    c = k.shape[0] // 2
    assert np.unravel_index(np.argmax(k), k.shape) == (c, c)
    assert _com_offset(k) > 0.5  # not the centre of mass
    np.testing.assert_allclose(k[c, c - 1], k[c, c + 1], rtol=0.02)


def test_non_square_and_integer_input():
    psf = (_gauss((21, 35), (10, 17), 2.0) * 4000 + 100).astype(np.uint16)
    k = prepare_psf(psf, background=100)
    assert k.shape[0] == k.shape[1] and k.sum() == pytest.approx(1.0)
    assert _com_offset(k) < 0.05


def test_auto_background():
    rng = np.random.default_rng(0)
    clean = _gauss((51, 51), (25, 25), 2.0, 1000.0)
    noisy = clean + 100 + rng.normal(0, 1, clean.shape)
    assert estimate_background(noisy) == pytest.approx(100, abs=0.5)
    k = prepare_psf(noisy, background="auto", crop_energy=0.999)
    ref = prepare_psf(clean, crop_energy=0.999)
    n = min(k.shape[0], ref.shape[0])
    from napari_glra.physics.kernels import pad_to

    assert np.abs(pad_to(k, n) - pad_to(ref, n)).sum() < 0.05
    # Without background subtraction the flat offset dominates the energy.
    assert prepare_psf(noisy).max() < 0.2 * k.max()


def test_crop_energy():
    g = make_kernel("gaussian", sigma=2.0, size=61)
    k = prepare_psf(g, crop_energy=0.99)
    assert k.shape[0] < 61 and k.shape[0] % 2 == 1
    c = (61 - k.shape[0]) // 2
    assert g[c : c + k.shape[0], c : c + k.shape[0]].sum() >= 0.99
    c2 = c + 1
    assert g[c2 : 61 - c2, c2 : 61 - c2].sum() < 0.99  # smallest such square
    assert k.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("psf_px,img_px", [(0.1, 0.2), (0.1, 0.25), (0.2, 0.1)])
def test_resampling_conserves_energy_and_scales_width(psf_px, img_px):
    g = _gauss((41, 41), (20, 20), 3.0, 7.0)
    r = resample_psf(g, psf_px, img_px)
    assert r.sum() == pytest.approx(g.sum(), rel=1e-9)
    assert r.shape[0] % 2 == 1 and r.shape[1] % 2 == 1
    expected = 3.0 * psf_px / img_px
    # Area-integrating coarser pixels add a box of variance 1/12 px².
    extra = 1 / 12 if img_px > psf_px else 0.0
    assert _sd(r) == pytest.approx(np.sqrt(expected**2 + extra), rel=0.03)
    k = prepare_psf(g, psf_pixel_size=psf_px, image_pixel_size=img_px, max_size=None)
    assert _sd(k) == pytest.approx(_sd(r), rel=0.02)


def test_resampling_same_pixel_size_is_identity():
    g = make_kernel("gaussian", sigma=1.0)
    np.testing.assert_array_equal(resample_psf(g, 0.1, 0.1), g)


def test_bead_stack_plane_pick():
    nz = 21
    stack = np.stack([_gauss((33, 33), (16, 16), 1.5 + 0.4 * abs(z - 13)) for z in range(nz)])
    stack = stack / stack.sum(axis=(1, 2), keepdims=True) * 1000 + 50  # widefield: energy per plane constant
    assert select_plane(stack) == 13
    assert select_plane(stack, "peak") == 13
    assert select_plane(stack, 4) == 4
    assert select_plane(stack, -1) == nz - 1
    k = prepare_psf(stack, background="auto", crop_energy=0.999)
    assert _sd(k) == pytest.approx(1.5, rel=0.05)
    k4 = prepare_psf(stack, background="auto", plane=4, crop_energy=0.999)
    assert _sd(k4) > 4
    # A singleton z axis is a 2D PSF.
    np.testing.assert_allclose(prepare_psf(stack[13:14]), prepare_psf(stack[13]))


def test_bead_stack_sum_criterion():
    stack = np.zeros((5, 21, 21))
    stack[1] = _gauss((21, 21), (10, 10), 1.0, 1.0)
    stack[3] = _gauss((21, 21), (10, 10), 3.0, 0.5)  # dimmer peak, more total light
    assert select_plane(stack, "peak") == 1
    assert select_plane(stack, "sum") == 3


def test_max_kernel_size_is_exported():
    assert MAX_KERNEL_SIZE == 75
    assert prepare_psf(make_kernel("gaussian", sigma=12.0, size=75)).shape == (75, 75)


@pytest.mark.parametrize(
    "psf,match",
    [
        (np.full((9, 9), np.nan), "NaN or inf"),
        (np.pad(np.array([[np.inf]]), 3), "NaN or inf"),
        (np.zeros((0, 5)), "empty"),
        (np.zeros((7, 7)), "all zeros"),
        (-make_kernel("gaussian", sigma=1.0), "negative sum"),
        (np.ones(9), "2D kernel or a 3D"),
        (np.ones((3, 3, 3, 3)), "2D kernel or a 3D"),
        (np.float64(1.0), "2D kernel or a 3D"),
    ],
)
def test_bad_psf_raises(psf, match):
    with pytest.raises(ValueError, match=match):
        prepare_psf(psf)


@pytest.mark.parametrize("psf", [np.array([["a", "b"], ["c", "d"]]), np.ones((3, 3), complex), [[None, 1]]])
def test_non_numeric_raises_type_error(psf):
    with pytest.raises(TypeError, match="numeric|real"):
        prepare_psf(psf)


def test_too_large_psf_says_limit_and_what_to_do():
    big = make_kernel("gaussian", sigma=10.0, size=121)
    with pytest.raises(ValueError) as info:
        prepare_psf(big)
    msg = str(info.value)
    assert "75" in msg and "121" in msg
    assert "crop" in msg and "pixel size" in msg
    # Following the advice works.
    assert prepare_psf(big, crop_energy=0.99).shape[0] <= 75
    assert prepare_psf(big, psf_pixel_size=0.1, image_pixel_size=0.2).shape[0] <= 75
    assert prepare_psf(big, max_size=None).shape == (121, 121)
    with pytest.raises(ValueError, match="limit"):
        prepare_psf(make_kernel("gaussian", sigma=2.0), max_size=5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"background": "median"}, "background"),
        ({"background": np.nan}, "background"),
        ({"background": 10.0}, "above the background"),
        ({"center": "middle"}, "center"),
        ({"crop_energy": 0.0}, "crop_energy"),
        ({"crop_energy": 1.5}, "crop_energy"),
        ({"max_size": 0}, "max_size"),
        ({"psf_pixel_size": 0.1}, "both"),
        ({"psf_pixel_size": -0.1, "image_pixel_size": 0.1}, "psf_pixel_size"),
        ({"psf_pixel_size": 0.1, "image_pixel_size": 0}, "image_pixel_size"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prepare_psf(make_kernel("gaussian", sigma=1.0), **kwargs)


def test_bad_plane_raises():
    stack = np.ones((4, 9, 9))
    for plane in (4, -5, "middle", 1.5):
        with pytest.raises(ValueError, match="plane"):
            prepare_psf(stack, plane=plane)
    with pytest.raises(ValueError, match="3D"):
        select_plane(np.ones((9, 9)))


# --------------------------------------------------------------------------- requests that cannot be met
@pytest.mark.parametrize(
    ("psf_px", "img_px", "wide"),
    [(1.0, 0.001, "19000"), (0.1, 0.001, "1900")],  # 19 px x1000 (a unit mix-up), x100
)
def test_huge_upsampling_fails_before_allocating(monkeypatch, psf_px, img_px, wide):
    import scipy.ndimage

    def boom(*a, **k):
        raise AssertionError("resampled")

    monkeypatch.setattr(scipy.ndimage, "map_coordinates", boom)
    with pytest.raises(ValueError, match=f"about {wide} px wide, more than the 1001 px limit") as err:
        prepare_psf(make_kernel("gaussian", sigma=3.0), psf_pixel_size=psf_px, image_pixel_size=img_px)
    assert "ABSOLUTE_MAX_SIZE" in str(err.value) and "same unit" in str(err.value)


def test_upsampling_up_to_the_limit_or_twice_the_size_works():
    assert ABSOLUTE_MAX_SIZE == 1001
    k = resample_psf(make_kernel("gaussian", sigma=3.0), 0.1, 0.003)  # 19 px x 33.3: 635 px
    assert k.shape == (635, 635) and k.sum() == pytest.approx(1.0)
    big = np.pad(make_kernel("gaussian", sigma=50.0, size=301), 300)  # 901 px, x1.5: 1353 <= 2 x 901
    assert resample_psf(big, 0.15, 0.1).shape[0] == 1353


def test_clipping_a_sharpening_kernel_warns():
    sharpen = np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])
    with pytest.warns(
        NegativePSFWarning, match=r"negative values holding 80 % of its positive mass.*set to 0"
    ):
        k = prepare_psf(sharpen)
    np.testing.assert_array_equal(k, [[1.0]])  # what the warning is about: a delta
    assert issubclass(NegativePSFWarning, UserWarning)


def test_small_or_expected_negatives_do_not_warn():
    import warnings

    rng = np.random.default_rng(0)
    g = make_kernel("gaussian", sigma=2.0, size=21)
    tiny = g.copy()
    tiny[0, :2] = -0.004  # 0.8 % negative mass
    noisy = g + 0.002 * rng.standard_normal(g.shape)  # a background-subtracted bead: noise around 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_psf(g)
        prepare_psf(tiny)
        prepare_psf(noisy, background=0)  # a background given: clipping below it is what is asked
        prepare_psf(noisy + 0.1, background="auto")
    with pytest.warns(NegativePSFWarning, match="background=0"):
        prepare_psf(noisy)  # ... which the warning suggests


def test_masked_array_is_refused():
    psf = np.ma.masked_greater(make_kernel("gaussian", sigma=2.0), 0.03)
    with pytest.raises(TypeError, match=r"masked array.*np\.ma\.filled"):
        prepare_psf(psf)
    prepare_psf(np.ma.filled(psf, 0.0))  # following the advice works
