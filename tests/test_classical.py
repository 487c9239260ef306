"""Classical baselines: Wiener, Richardson-Lucy and TV deconvolution."""

from __future__ import annotations

import numpy as np
import pytest

from napari_glra._fft import pad_for_fft
from napari_glra.classical import (
    richardson_lucy,
    richardson_lucy_path,
    tv_deconv,
    tv_sweep,
    wiener,
    wiener_sweep,
)
from napari_glra.metrics import psnr
from napari_glra.physics.degrade import degrade
from napari_glra.physics.kernels import gaussian, make_kernel

skimage = pytest.importorskip("skimage")
from skimage import data, transform  # noqa: E402


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    img = data.camera().astype(np.float64) / 255.0
    return transform.resize(img, (128, 128), anti_aliasing=True)


@pytest.fixture(scope="module")
def blurred(camera):
    k = gaussian(2.0)
    y, sharp = degrade(camera, k, noise=0.01, saturation=1.2, mode="valid", seed=0)
    return y, sharp, k


METHODS = {
    "wiener": lambda y, k: wiener(y, k, balance=3e-3),
    "rl": lambda y, k: richardson_lucy(y, k, iterations=30),
    "tv": lambda y, k: tv_deconv(y, k, lam=1e-3),
    "wiener_valid": lambda y, k: wiener(y, k, balance=3e-3, boundary="valid"),
    "rl_valid": lambda y, k: richardson_lucy(y, k, iterations=30, boundary="valid"),
    "tv_valid": lambda y, k: tv_deconv(y, k, lam=3e-4, boundary="valid"),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_improves_psnr_and_keeps_shape(name, blurred):
    y, sharp, k = blurred
    out = METHODS[name](y, k)
    assert out.shape == y.shape
    assert out.dtype == np.float64
    assert np.all(np.isfinite(out))
    gain = psnr(np.clip(out, 0, 1), sharp) - psnr(np.clip(y, 0, 1), sharp)
    assert gain > 0.5, f"{name}: PSNR gain {gain:.2f} dB"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_no_strong_border_artefact(name, blurred):
    y, sharp, k = blurred
    out = np.clip(METHODS[name](y, k), 0, 1)
    b = 8
    inner = np.zeros(y.shape, bool)
    inner[2 * b : -2 * b, 2 * b : -2 * b] = True
    band = np.zeros(y.shape, bool)
    band[:b] = band[-b:] = True
    band[:, :b] = band[:, -b:] = True
    err = (out - sharp) ** 2
    p_band = 10 * np.log10(1 / err[band].mean())
    p_inner = 10 * np.log10(1 / err[inner].mean())
    assert p_band > p_inner - 4.0, f"{name}: border {p_band:.1f} dB, interior {p_inner:.1f} dB"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_odd_shapes_and_motion_kernel(name):
    rng = np.random.default_rng(1)
    x = rng.random((57, 70))
    k = make_kernel("motion", length=11, seed=3)
    y, _ = degrade(x, k, noise=0.01, seed=1)
    out = METHODS[name](y, k)
    assert out.shape == y.shape
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name", ["wiener", "rl", "tv"])
def test_valid_boundary_beats_mirror_on_motion_blur(name, camera):
    k = make_kernel("motion", length=15, seed=5)
    y, sharp = degrade(camera, k, noise=0.01, saturation=1.2, mode="valid", seed=2)
    mirror = psnr(np.clip(METHODS[name](y, k), 0, 1), sharp)
    valid = psnr(np.clip(METHODS[name + "_valid"](y, k), 0, 1), sharp)
    margin = 0.0 if name == "rl" else 0.3  # RL's border ringing is milder
    assert valid > mirror + margin, f"{name}: valid {valid:.2f} dB, mirror {mirror:.2f} dB"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_observation_smaller_than_kernel(name):
    """A valid blur of a 48-px crop by a 31-px kernel is 18 px: still restorable."""
    rng = np.random.default_rng(2)
    k = make_kernel("motion", length=25, seed=1, size=31)
    y, _ = degrade(rng.random((48, 48)), k, noise=0.01, seed=0)
    out = METHODS[name](y, k)
    assert out.shape == y.shape == (18, 18)
    assert np.all(np.isfinite(out))


def test_identity_kernel_is_nearly_identity():
    rng = np.random.default_rng(0)
    y = rng.random((32, 40))
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    np.testing.assert_allclose(wiener(y, delta, balance=1e-9), y, atol=1e-6)
    np.testing.assert_allclose(richardson_lucy(y + 0.1, delta, iterations=5), y + 0.1, atol=1e-9)
    np.testing.assert_allclose(tv_deconv(y, delta, lam=1e-9), y, atol=1e-4)


def test_constant_image_is_preserved():
    y = np.full((40, 40), 0.4)
    k = gaussian(1.5)
    for out in (
        wiener(y, k, 1e-2),
        richardson_lucy(y, k, 10),
        tv_deconv(y, k, 1e-3),
        wiener(y, k, 1e-2, boundary="valid"),
        richardson_lucy(y, k, 10, boundary="valid"),
        tv_deconv(y, k, 1e-3, boundary="valid"),
    ):
        np.testing.assert_allclose(out, 0.4, atol=1e-6)
    # The identity prior shrinks the mean: K(0) = 1 -> 1 / (1 + balance).
    np.testing.assert_allclose(wiener(y, k, 1e-2, prior="identity"), 0.4 / 1.01, atol=1e-6)


def test_kernel_normalised_and_integer_input():
    y = np.full((30, 30), 100, dtype=np.uint8)
    k = gaussian(1.0) * 7.0
    np.testing.assert_allclose(wiener(y, k, 1e-2), 100.0, rtol=1e-9)


def test_sweeps_match_single_calls(blurred):
    y, _, k = blurred
    np.testing.assert_allclose(wiener_sweep(y, k, [1e-3, 1e-2])[1], wiener(y, k, 1e-2))
    path = richardson_lucy_path(y, k, [7, 3])
    np.testing.assert_allclose(path[0], richardson_lucy(y, k, 7))
    np.testing.assert_allclose(path[1], richardson_lucy(y, k, 3))
    np.testing.assert_allclose(tv_sweep(y, k, [1e-3, 3e-3])[1], tv_deconv(y, k, 3e-3))
    np.testing.assert_allclose(
        wiener_sweep(y, k, [1e-3, 1e-2], boundary="valid")[1],
        wiener(y, k, 1e-2, boundary="valid"),
    )
    np.testing.assert_allclose(
        richardson_lucy_path(y, k, [7, 3], boundary="valid")[1],
        richardson_lucy(y, k, 3, boundary="valid"),
    )
    np.testing.assert_allclose(
        tv_sweep(y, k, [1e-3, 3e-3], boundary="valid")[0],
        tv_deconv(y, k, 1e-3, boundary="valid"),
    )


def test_valid_wiener_converges_to_masked_least_squares():
    """The ADMM solution satisfies the normal equations of the masked problem."""
    rng = np.random.default_rng(3)
    y = rng.random((24, 26))
    k = gaussian(1.0)
    b, n, mu = 1e-2, 1000, 0.1
    from napari_glra.classical import _Grid

    out = wiener(y, k, b, boundary="valid", iterations=n, mu=mu)
    # Same ADMM on the padded grid, keeping the full estimate.
    g = _Grid(y, k)
    M = g.mask
    v = g.blur(g.yp)
    u = np.zeros_like(v)
    for _ in range(n):
        X = np.conj(g.K) * g.rfft(v - u) / (g.K2 + (b / mu) * g.P)
        Kx = g.irfft(g.K * X)
        v = (M * g.yp + mu * (Kx + u)) / (M + mu)
        u += Kx - v
    x = g.irfft(X)
    np.testing.assert_allclose(g.cropped(x), out, atol=1e-10)

    # Gradient of ½‖M(k∗x) − y‖² + (b/2)‖∇x‖² vanishes.
    def grad(z):
        resid = M * (g.blur(z) - g.yp)
        return g.irfft(np.conj(g.K) * g.rfft(resid)) + b * g.irfft(g.P * g.rfft(z))

    assert np.abs(grad(x)).max() < 1e-3 * np.abs(grad(g.yp)).max()


def test_tv_anisotropic_runs(blurred):
    y, sharp, k = blurred
    out = tv_deconv(y, k, lam=1e-3, isotropic=False)
    assert psnr(np.clip(out, 0, 1), sharp) > psnr(np.clip(y, 0, 1), sharp)


def test_pad_for_fft_crop_roundtrip():
    y = np.arange(35.0).reshape(5, 7)
    p, crop = pad_for_fft(y, (3, 3))
    np.testing.assert_array_equal(p[crop], y)
    assert all(s >= n + 12 for s, n in zip(p.shape, y.shape))


# --------------------------------------------------------------------------- errors

FUNCS = {
    "wiener": lambda y, k, v=1e-2: wiener(y, k, v),
    "rl": lambda y, k, v=5: richardson_lucy(y, k, v),
    "tv": lambda y, k, v=1e-3: tv_deconv(y, k, v),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_bad_images_raise(name):
    f = FUNCS[name]
    k = gaussian(1.0)
    with pytest.raises(ValueError, match="2D"):
        f(np.zeros((3, 20, 20)), k)
    bad = np.zeros((20, 20))
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        f(bad, k)
    with pytest.raises(ValueError, match="larger than twice the image"):
        f(np.zeros((20, 20)), gaussian(7.0))  # 43 px
    with pytest.raises(ValueError, match="kernel"):
        f(np.zeros((20, 20)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="kernel"):
        f(np.zeros((20, 20)), np.ones((3, 3, 3)))


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_non_positive_parameter_raises(name, value):
    if name == "rl" and not np.isfinite(value):
        value = 2.5  # non-integer iteration count
    with pytest.raises(ValueError):
        FUNCS[name](np.zeros((20, 20)), gaussian(1.0), value)


def test_other_bad_arguments_raise():
    y, k = np.zeros((20, 20)), gaussian(1.0)
    with pytest.raises(ValueError, match="prior"):
        wiener(y, k, 1e-2, prior="laplace")
    with pytest.raises(ValueError, match="non-negative"):
        richardson_lucy(y, k - 0.01, 5)
    with pytest.raises(ValueError, match="eps"):
        richardson_lucy(y, k, 5, eps=0)
    with pytest.raises(ValueError, match="beta_max"):
        tv_deconv(y, k, 1e-3, beta0=10, beta_max=1)
    with pytest.raises(ValueError, match="beta_rate"):
        tv_deconv(y, k, 1e-3, beta_rate=1.0)
    with pytest.raises(ValueError, match="iterations"):
        tv_deconv(y, k, 1e-3, iterations=0)
    with pytest.raises(ValueError, match="iterations"):
        richardson_lucy(y, k, True)
    for f in (
        lambda: wiener(y, k, 1e-2, boundary="circular"),
        lambda: richardson_lucy(y, k, 5, boundary="zero"),
        lambda: tv_deconv(y, k, 1e-3, boundary=None),
    ):
        with pytest.raises(ValueError, match="boundary"):
            f()
    with pytest.raises(ValueError, match="mu"):
        tv_deconv(y, k, 1e-3, boundary="valid", mu=0)
    with pytest.raises(ValueError, match="iterations"):
        wiener(y, k, 1e-2, boundary="valid", iterations=0)
