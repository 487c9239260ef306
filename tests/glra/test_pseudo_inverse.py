import numpy as np
import pytest
from scipy.signal import fftconvolve

from napari_glra.glra.pseudo_inverse import DEFAULT_SIZE, gradient_power, noise_reg, pseudo_inverse, psf2otf
from napari_glra.physics.kernels import make_kernel


@pytest.mark.parametrize("prior", ["gradient", "identity"])
def test_kernel_times_pseudo_inverse_is_delta(prior):
    k = make_kernel("gaussian", sigma=0.7)
    kd = pseudo_inverse(k, size=41, reg=1e-6, prior=prior)
    assert kd.shape == (41, 41)
    prod = fftconvolve(kd, k, mode="same")
    delta = np.zeros_like(prod)
    delta[20, 20] = 1.0
    assert np.abs(prod - delta).max() < 1e-3


def test_gradient_prior_keeps_dc_gain():
    k = make_kernel("disk", radius=2.0)
    kd = pseudo_inverse(k, size=61, reg=0.1)
    assert kd.sum() == pytest.approx(1.0, abs=1e-3)
    kd_id = pseudo_inverse(k, size=61, reg=0.1, prior="identity")
    assert kd_id.sum() == pytest.approx(1 / 1.1, abs=1e-3)


def test_symmetric_kernel_gives_symmetric_inverse():
    kd = pseudo_inverse(make_kernel("gaussian", sigma=2.0), size=31, reg=0.01)
    np.testing.assert_allclose(kd, kd[::-1, ::-1], atol=1e-12)
    np.testing.assert_allclose(kd, kd.T, atol=1e-12)
    assert np.argmax(kd) == 15 * 31 + 15


def test_larger_reg_is_smoother():
    k = make_kernel("gaussian", sigma=2.0)
    small = pseudo_inverse(k, size=31, reg=1e-4)
    large = pseudo_inverse(k, size=31, reg=1e-1)
    assert np.abs(large).max() < np.abs(small).max()


def test_default_size_and_noise_level():
    k = make_kernel("gaussian", sigma=1.5)
    kd = pseudo_inverse(k)
    assert kd.shape == (DEFAULT_SIZE, DEFAULT_SIZE)
    np.testing.assert_allclose(kd, pseudo_inverse(k, noise_level=0.01))
    np.testing.assert_allclose(pseudo_inverse(k, noise_level=0.03), pseudo_inverse(k, reg=noise_reg(0.03)))
    assert noise_reg(0.02) > noise_reg(0.01) > 0
    assert noise_reg(0.0) > 0


def test_psf2otf_and_gradient_power():
    k = make_kernel("gaussian", sigma=1.0)
    K = psf2otf(k, (32, 32))
    assert K[0, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(K.imag, 0, atol=1e-12)  # symmetric, centred -> real OTF
    P = gradient_power((16, 16))
    assert P[0, 0] == 0 and P.max() == pytest.approx(8.0)
    with pytest.raises(ValueError, match="larger than the FFT grid"):
        psf2otf(np.ones((9, 9)), (8, 8))


@pytest.mark.parametrize(
    "k,kwargs,match",
    [
        (np.ones(5), {}, "2D"),
        (np.zeros((0, 0)), {}, "2D"),
        (np.full((5, 5), np.nan), {}, "NaN"),
        (np.ones((5, 5)), {"size": 10}, "odd"),
        (np.ones((5, 5)), {"size": 0}, "odd"),
        (np.ones((5, 5)), {"reg": 0.0}, "reg"),
        (np.ones((5, 5)), {"reg": -1.0}, "reg"),
        (np.ones((5, 5)), {"prior": "tv"}, "prior"),
        (np.ones((5, 5)), {"noise_level": -0.1}, "noise_level"),
    ],
)
def test_bad_inputs(k, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pseudo_inverse(k, **kwargs)


def test_noise_reg_bad_input():
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError):
            noise_reg(bad)


@pytest.mark.parametrize("shape", [(16, 16), (15, 22), (20, 9)])
def test_gradient_power_half_plane(shape):
    nh = shape[1] // 2 + 1
    np.testing.assert_allclose(gradient_power(shape, half=True), gradient_power(shape)[:, :nh], atol=1e-12)
