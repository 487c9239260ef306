"""The Born–Wolf defocus PSF (napari_glra.physics.optics) and its make_kernel("defocus") entry."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_glra.physics.kernels import make_kernel
from napari_glra.physics.optics import (
    UndersampledPSFWarning,
    airy_first_zero,
    defocus_psf,
    encircled_energy,
    nyquist_pixel_size,
    radial_profile,
)
from napari_glra.physics.psf import MAX_KERNEL_SIZE

NA, WL = 1.4, 0.52  # oil objective, GFP emission (µm)


def first_zero_radius(k: np.ndarray, pixel_size: float) -> float:
    """Radius (µm) of the first minimum of the central row, refined by a parabola."""
    c = k.shape[0] // 2
    row = k[c, c:]
    i = next(j for j in range(1, row.size - 1) if row[j] <= row[j - 1] and row[j] < row[j + 1])
    lo, mid, hi = row[i - 1], row[i], row[i + 1]
    return (i + 0.5 * (lo - hi) / (lo - 2 * mid + hi)) * pixel_size


def energy_radius(k: np.ndarray, pixel_size: float, fraction: float = 0.5) -> float:
    """Radius (µm) of the disk holding ``fraction`` of the kernel's sum."""
    c = k.shape[0] // 2
    yy, xx = np.mgrid[: k.shape[0], : k.shape[1]]
    r = np.hypot(yy - c, xx - c).ravel()
    order = np.argsort(r)
    cum = np.cumsum(k.ravel()[order])
    return float(r[order][np.searchsorted(cum, fraction * cum[-1])] * pixel_size)


@pytest.mark.parametrize("defocus", [0.0, 0.4, 1.5])
def test_sum_odd_size_symmetry_and_centre(defocus):
    k = defocus_psf(NA, WL, 0.08, defocus=defocus)
    assert k.dtype == np.float64 and k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.shape[0] <= MAX_KERNEL_SIZE
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(k >= 0)
    for flipped in (k[::-1], k[:, ::-1], k.T, k[::-1, ::-1]):
        np.testing.assert_allclose(flipped, k, rtol=0, atol=1e-15)
    c = k.shape[0] // 2
    yy, xx = np.mgrid[: k.shape[0], : k.shape[1]]
    assert (k * yy).sum() == pytest.approx(c, abs=1e-9)
    assert (k * xx).sum() == pytest.approx(c, abs=1e-9)


def test_peak_at_centre_in_focus():
    k = defocus_psf(NA, WL, 0.06, size=41)
    assert np.unravel_index(np.argmax(k), k.shape) == (20, 20)
    # the centre pixel is the strict maximum
    assert np.sum(k == k.max()) == 1


@pytest.mark.parametrize(("na", "wl"), [(1.4, 0.52), (0.8, 0.6), (0.4, 0.45)])
def test_first_zero_is_the_airy_radius(na, wl):
    px = wl / na / 30  # fine sampling: ~18 px to the first zero
    k = defocus_psf(na, wl, px, size=71)
    r0 = first_zero_radius(k, px)
    assert r0 == pytest.approx(0.61 * wl / na, rel=0.10)
    assert r0 == pytest.approx(airy_first_zero(na, wl), rel=0.03)
    # the point-sampled profile has its zero at the Bessel zero
    assert radial_profile(airy_first_zero(na, wl), na, wl) < 1e-12


def test_width_grows_with_defocus():
    widths = [energy_radius(defocus_psf(NA, WL, 0.08, defocus=d), 0.08) for d in (0.0, 0.25, 0.5, 1.0)]
    assert all(b > a for a, b in zip(widths, widths[1:])), widths
    # and the peak drops
    assert defocus_psf(NA, WL, 0.08, defocus=1.0).max() < 0.2 * defocus_psf(NA, WL, 0.08).max()


@pytest.mark.parametrize("paraxial", [False, True])
def test_far_from_focus_the_blur_approaches_the_geometric_spot(paraxial):
    """Geometric optics: the ray through pupil radius ρ lands at z·tanθ(ρ), sinθ = NA·ρ/n.

    (Paraxial: z·NA·ρ/n.)  A uniform pupil puts the fraction ρ² of the energy inside that radius.
    """
    na, n, wl, z, px = 0.8, 1.0, 0.52, 4.0, 0.15
    k = defocus_psf(na, wl, px, defocus=z, n_immersion=n, paraxial=paraxial)
    for frac in (0.5, 0.81):
        s = na * np.sqrt(frac) / n
        r_geo = z * (s if paraxial else s / np.sqrt(1 - s * s))
        assert energy_radius(k, px, frac) == pytest.approx(r_geo, rel=0.15)


def test_paraxial_and_exact_phase_agree_at_focus_and_low_na():
    np.testing.assert_allclose(
        defocus_psf(NA, WL, 0.08, size=31), defocus_psf(NA, WL, 0.08, size=31, paraxial=True), atol=1e-15
    )
    a = defocus_psf(0.25, WL, 0.4, defocus=3.0, n_immersion=1.0, size=21)
    b = defocus_psf(0.25, WL, 0.4, defocus=3.0, n_immersion=1.0, size=21, paraxial=True)
    assert np.abs(a - b).max() < 0.05 * a.max()
    # at NA 1.4 the paraxial phase underestimates the defocus blur
    exact = energy_radius(defocus_psf(NA, WL, 0.08, defocus=0.75), 0.08)
    parax = energy_radius(defocus_psf(NA, WL, 0.08, defocus=0.75, paraxial=True), 0.08)
    assert exact > 1.3 * parax


@pytest.mark.parametrize("defocus", [0.0, 0.5, -1.0])
def test_matches_psfmodels_scalar_gibson_lanni_without_mismatch(defocus):
    """Cross-check with an independent implementation (optional dependency)."""
    psfmodels = pytest.importorskip("psfmodels")
    n = 1.518
    g = psfmodels.make_psf(
        [defocus], nx=41, dxy=0.04, pz=0.0, NA=NA, wvl=WL, ns=n, ni=n, ni0=n, ng=n, ng0=n, model="scalar"
    )[0]
    g = g / g.sum()
    k = defocus_psf(NA, WL, 0.04, defocus=defocus, size=41)
    assert np.abs(g - k).max() < 0.01 * k.max()


def test_gibson_lanni_wrapper():
    pytest.importorskip("psfmodels")
    from napari_glra.physics.optics import gibson_lanni_psf

    k = gibson_lanni_psf(NA, WL, 0.08, defocus=0.5, size=31)
    assert k.shape == (31, 31) and k.sum() == pytest.approx(1.0) and np.all(k >= 0)
    np.testing.assert_allclose(k, k[::-1], atol=1e-15)
    assert np.abs(k - defocus_psf(NA, WL, 0.08, defocus=0.5, size=31)).max() < 0.01 * k.max()
    # oil objective into water at 10 µm depth: spherical aberration makes +z and -z differ
    up = gibson_lanni_psf(NA, WL, 0.08, defocus=0.5, size=31, n_sample=1.333, depth=10.0)
    down = gibson_lanni_psf(NA, WL, 0.08, defocus=-0.5, size=31, n_sample=1.333, depth=10.0)
    assert np.abs(up - down).max() > 0.05 * up.max()
    assert gibson_lanni_psf(NA, WL, 0.08, size=15, model="vectorial").shape == (15, 15)
    with pytest.raises(ValueError, match="model"):
        gibson_lanni_psf(NA, WL, 0.08, model="born-wolf")
    with pytest.raises(ValueError, match="Nyquist"):
        gibson_lanni_psf(NA, WL, 0.5)


def test_gibson_lanni_without_psfmodels_says_how_to_install(monkeypatch):
    import sys

    from napari_glra.physics.optics import gibson_lanni_psf

    monkeypatch.setitem(sys.modules, "psfmodels", None)
    with pytest.raises(ImportError, match="pip install psfmodels"):
        gibson_lanni_psf(NA, WL, 0.08, size=15)


def test_defocus_sign_does_not_matter():
    np.testing.assert_allclose(
        defocus_psf(NA, WL, 0.08, defocus=0.7, size=31), defocus_psf(NA, WL, 0.08, defocus=-0.7, size=31)
    )


def test_width_scales_inversely_with_na_and_with_wavelength():
    px = 0.02
    r_hi = first_zero_radius(defocus_psf(1.2, 0.5, px, size=61), px)
    r_lo = first_zero_radius(defocus_psf(0.6, 0.5, px, size=101, max_size=None), px)
    assert r_lo / r_hi == pytest.approx(2.0, rel=0.05)
    r_red = first_zero_radius(defocus_psf(1.2, 0.65, px, size=61), px)
    assert r_red / r_hi == pytest.approx(0.65 / 0.5, rel=0.05)
    w_hi = energy_radius(defocus_psf(1.2, 0.5, px, size=61), px)
    w_lo = energy_radius(defocus_psf(0.6, 0.5, px, size=61), px)
    assert w_lo > 1.6 * w_hi


def test_default_size_holds_the_energy():
    # In focus at Nyquist-like sampling 99 % of the Airy energy needs ~10 λ/NA: capped at the limit.
    assert defocus_psf(NA, WL, 0.08).shape[0] == MAX_KERNEL_SIZE
    # a smaller target is trimmed to the smallest odd square holding it
    px = 0.08
    k = defocus_psf(NA, WL, px, energy=0.95)
    n = k.shape[0]
    assert 9 < n < MAX_KERNEL_SIZE
    assert encircled_energy(np.sqrt(2) * n / 2 * px, NA, WL) >= 0.95  # circumscribed circle
    assert encircled_energy((n - 2) / 2 * px, NA, WL) < 0.95  # inscribed circle of the next smaller
    # the default kernel is the explicit-size kernel of its size
    np.testing.assert_allclose(k, defocus_psf(NA, WL, px, size=n), rtol=1e-10, atol=1e-15)
    # encircled energy is exact (Parseval): tends to 1, 0.838 inside the first zero (Airy)
    assert encircled_energy(airy_first_zero(NA, WL), NA, WL) == pytest.approx(0.838, abs=0.003)
    assert encircled_energy(50 * WL / NA, NA, WL) == pytest.approx(1.0, abs=0.01)


def test_oversampling_converges():
    a = defocus_psf(NA, WL, 0.08, size=21, oversample=3)
    b = defocus_psf(NA, WL, 0.08, size=21, oversample=9)
    assert np.abs(a - b).max() < 0.01 * b.max()


def test_make_kernel_dispatches_defocus():
    k = make_kernel("defocus", na=NA, wavelength=WL, pixel_size=0.08, defocus=0.5, size=31)
    np.testing.assert_array_equal(k, defocus_psf(NA, WL, 0.08, defocus=0.5, size=31))
    # defaults exist (the napari kernel generator builds its spin boxes from them)
    k0 = make_kernel("defocus")
    assert k0.sum() == pytest.approx(1.0) and k0.shape[0] % 2 == 1
    with pytest.raises(TypeError, match="defocus"):
        make_kernel("defocus", na=NA, wavelength=WL, pixel_size=0.08, sigma=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"na": 0.0}, "na"),
        ({"na": -1.0}, "na"),
        ({"na": float("nan")}, "na"),
        ({"wavelength": 0}, "wavelength"),
        ({"wavelength": 520}, "nanometres"),
        ({"pixel_size": 0}, "pixel_size"),
        ({"pixel_size": -0.1}, "pixel_size"),
        ({"na": 1.6}, "smaller than the immersion index"),
        ({"na": 1.0, "n_immersion": 1.0}, "smaller than the immersion index"),
        ({"n_immersion": 0}, "n_immersion"),
        ({"defocus": float("inf")}, "defocus"),
        ({"size": 30}, "odd"),
        ({"size": 0}, "odd"),
        ({"size": 101}, "limit of the basis"),
        ({"oversample": 0}, "oversample"),
        ({"energy": 1.0}, "energy"),
        ({"pixel_size": 0.5}, "Nyquist"),
        ({"pixel_size": 65.0}, "Nyquist"),
        ({"defocus": 6.0}, "does not fit"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, match):
    args = {"na": NA, "wavelength": WL, "pixel_size": 0.08} | kwargs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndersampledPSFWarning)
        with pytest.raises(ValueError, match=match):
            defocus_psf(**args)


def test_undersampling_message_names_the_limit_and_what_to_do():
    nyq = nyquist_pixel_size(NA, WL)
    with pytest.raises(ValueError) as err:
        defocus_psf(NA, WL, 3 * nyq)
    msg = str(err.value)
    assert f"{nyq:.4g}" in msg and "finer pixel size" in msg and "allow_undersampled" in msg
    # up to 2x Nyquist: a warning, and the kernel
    with pytest.warns(UndersampledPSFWarning, match="Nyquist"):
        k = defocus_psf(NA, WL, 1.5 * nyq)
    assert k.sum() == pytest.approx(1.0)
    with pytest.warns(UndersampledPSFWarning):
        defocus_psf(NA, WL, 3 * nyq, allow_undersampled=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        defocus_psf(NA, WL, nyq, size=15)  # at Nyquist: no warning


def test_too_large_message_says_what_to_do():
    with pytest.raises(ValueError) as err:
        defocus_psf(NA, WL, 0.05, defocus=1.0)
    msg = str(err.value)
    assert f"{MAX_KERNEL_SIZE} px" in msg and "Bin the image" in msg and "size=" in msg
    assert "holds only" in msg and "% of its energy" in msg
    # an explicit size truncates as asked, and a coarser sampling fits
    assert defocus_psf(NA, WL, 0.05, defocus=1.0, size=75).shape == (75, 75)
    assert defocus_psf(NA, WL, 0.09, defocus=1.0).shape[0] <= MAX_KERNEL_SIZE
    # max_size=None lifts the basis limit
    assert defocus_psf(NA, WL, 0.05, defocus=1.0, max_size=None).shape[0] > MAX_KERNEL_SIZE


def test_goes_through_prepare_psf_unchanged():
    from napari_glra.physics.psf import prepare_psf

    k = defocus_psf(NA, WL, 0.08, defocus=0.5, size=31)
    np.testing.assert_allclose(prepare_psf(k), k, atol=1e-12)


@pytest.mark.parametrize("bead_px", [0.04, 0.03])
def test_resampled_fine_psf_matches_the_psf_made_at_the_image_pixel_size(bead_px):
    """A PSF sampled finely (like a bead stack) and resampled by prepare_psf equals the direct one."""
    from napari_glra.physics.psf import prepare_psf

    img_px, defocus = 0.08, 0.4
    fine = defocus_psf(NA, WL, bead_px, defocus=defocus, size=121, max_size=None)
    k = prepare_psf(fine, psf_pixel_size=bead_px, image_pixel_size=img_px, max_size=None)
    n = min(k.shape[0], 41)
    direct = defocus_psf(NA, WL, img_px, defocus=defocus, size=n, oversample=9)
    c = k.shape[0] // 2
    k = k[c - n // 2 : c + n // 2 + 1, c - n // 2 : c + n // 2 + 1]
    # area weighting treats each fine pixel as uniform: an extra blur of one bead pixel (~3 % at the peak)
    assert np.abs(k / k.sum() - direct).max() < 0.05 * direct.max()
    assert k.max() / k.sum() == pytest.approx(direct.max(), rel=0.05)


# --------------------------------------------------------------------------- requests that cannot be met
def _no_integral(*args, **kwargs):
    raise AssertionError("the PSF integral was computed for a request that cannot be met")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"defocus": 1e6}, r"radius of about 2\.98e\+07 px at 0\.08 µm/px, more than the 1001 px"),
        ({"defocus": 1e6, "size": 21}, "1001 px any kernel may have"),
        ({"defocus": 50.0, "max_size": None}, "1001 px any kernel may have"),
        ({"defocus": 3.0}, "geometric blur alone has a radius of 89 px"),
    ],
)
def test_a_blur_far_beyond_the_limit_fails_before_any_integral(monkeypatch, kwargs, match):
    from napari_glra.physics import optics

    monkeypatch.setattr(optics, "_field_intensity", _no_integral)
    with pytest.raises(ValueError, match=match):
        defocus_psf(NA, WL, 0.08, **kwargs)


def test_a_psf_too_wide_for_the_limit_fails_before_the_2d_psf(monkeypatch):
    from napari_glra.physics import optics

    monkeypatch.setattr(optics, "_pixel_psf", _no_integral)
    with pytest.raises(ValueError, match=r"a 75 px square holds at most 8\d\.\d % of its energy") as err:
        defocus_psf(NA, WL, 0.005)  # in focus, but 16x finer than Nyquist
    assert "Bin the image" in str(err.value)


def test_the_early_geometric_check_only_refuses_what_the_full_check_would():
    """Just past the early bound (geometric radius 0.76 x 75 px) a 75 px square holds < 95 % of the PSF."""
    px = 0.08
    tan_theta = NA / np.sqrt(1.518**2 - NA**2)
    defocus = 0.76 * MAX_KERNEL_SIZE * px / tan_theta
    with pytest.raises(ValueError, match="geometric blur alone"):
        defocus_psf(NA, WL, px, defocus=defocus)
    full = defocus_psf(NA, WL, px, defocus=defocus, max_size=None, energy=0.999)
    c, h = full.shape[0] // 2, MAX_KERNEL_SIZE // 2
    assert full[c - h : c + h + 1, c - h : c + h + 1].sum() < 0.95


def test_an_unresolvable_integral_is_refused_not_truncated(monkeypatch):
    from napari_glra.physics import optics

    monkeypatch.setattr(optics, "_field_intensity", _no_integral)
    with pytest.raises(ValueError, match="quadrature nodes, at most 8000"):
        radial_profile(np.array([0.0, 2000.0]), NA, WL)  # 2 mm from the axis: ~25 000 nodes


@pytest.mark.parametrize("oversample", [17, 1000, 2.5])
def test_oversample_is_bounded(oversample):
    with pytest.raises(ValueError, match=r"oversample must be an integer in \[1, 16\]"):
        defocus_psf(NA, WL, 0.08, oversample=oversample)


def test_quadrature_nodes_are_numpys():
    from napari_glra.physics.optics import _gauss_legendre

    x, w = _gauss_legendre(300)
    xr, wr = np.polynomial.legendre.leggauss(300)
    np.testing.assert_allclose(x, xr, rtol=0, atol=1e-14)
    np.testing.assert_allclose(w, wr, rtol=1e-10, atol=0)
