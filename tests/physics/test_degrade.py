import numpy as np
import pytest

from napari_glra.physics.degrade import blur, degrade
from napari_glra.physics.kernels import make_kernel


@pytest.fixture
def img():
    rng = np.random.default_rng(0)
    return rng.uniform(0.1, 0.7, size=(48, 40))


def test_valid_and_same_shapes(img):
    k = make_kernel("gaussian", sigma=1.5)  # 11x11
    y, x = degrade(img, k, noise=0, saturation=None, mode="valid")
    assert y.shape == x.shape == (48 - 10, 40 - 10)
    np.testing.assert_array_equal(x, img[5:-5, 5:-5])
    y, x = degrade(img, k, noise=0, saturation=None, mode="same")
    assert y.shape == x.shape == img.shape
    np.testing.assert_array_equal(x, img)


def test_valid_blur_matches_direct_sum(img):
    k = make_kernel("motion", length=7, seed=2)
    y = blur(img, k, "valid")
    i, j = 3, 4
    h = k.shape[0]
    direct = np.sum(img[i : i + h, j : j + h] * k[::-1, ::-1])  # convolution, not correlation
    assert y[i, j] == pytest.approx(direct, rel=1e-10)


def test_constant_image_is_preserved():
    y, x = degrade(np.full((30, 30), 0.4), make_kernel("disk", radius=3), noise=0, saturation=None)
    np.testing.assert_allclose(y, 0.4, atol=1e-12)


def test_saturation_clips_both(img):
    k = make_kernel("gaussian", sigma=1.0)
    bright = np.clip(img * 2, 0, 1)
    y, x = degrade(bright, k, noise=0, saturation=1.2)
    assert y.max() <= 1.0 and x.max() <= 1.0
    assert np.isclose(x.max(), 1.0) and np.isclose(y.max(), 1.0)
    y0, x0 = degrade(bright, k, noise=0, saturation=None)
    np.testing.assert_allclose(x, np.clip(1.2 * x0, 0, 1))
    np.testing.assert_allclose(y, np.clip(1.2 * y0, 0, 1))


def test_seed_reproducible(img):
    k = make_kernel("gaussian", sigma=1.0)
    a, _ = degrade(img, k, noise=0.02, seed=5)
    b, _ = degrade(img, k, noise=0.02, seed=5)
    c, _ = degrade(img, k, noise=0.02, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(degrade(img, k, seed=rng1)[0], degrade(img, k, seed=rng2)[0])


def test_noise_std():
    x = np.full((300, 300), 0.5)
    k = make_kernel("gaussian", sigma=1.0)
    y, _ = degrade(x, k, noise=0.03, saturation=None, seed=0)
    assert np.std(y - 0.5) == pytest.approx(0.03, rel=0.02)
    assert abs(np.mean(y - 0.5)) < 1e-3


def test_poisson_gaussian():
    x = np.full((300, 300), 0.5)
    k = make_kernel("gaussian", sigma=1.0)
    peak = 100.0
    y, _ = degrade(x, k, noise=0.0, saturation=None, poisson=peak, seed=0)
    # Poisson(0.5 * 100) / 100: mean 0.5, variance 0.5 / 100, values on a 1/peak grid.
    assert np.mean(y) == pytest.approx(0.5, abs=2e-3)
    assert np.var(y) == pytest.approx(0.5 / peak, rel=0.05)
    np.testing.assert_allclose(y * peak, np.round(y * peak), atol=1e-9)
    y2, _ = degrade(x, k, noise=0.02, saturation=None, poisson=peak, seed=0)
    assert np.var(y2) == pytest.approx(0.5 / peak + 0.02**2, rel=0.05)


@pytest.mark.parametrize(
    "x,k,kwargs,match",
    [
        (np.ones((5, 5, 3)), np.ones((3, 3)) / 9, {}, "2D"),
        (np.full((9, 9), np.nan), np.ones((3, 3)) / 9, {}, "NaN"),
        (np.ones((9, 9)), np.ones((3, 3)) / 9, {"noise": -0.1}, "noise"),
        (np.ones((9, 9)), np.ones((3, 3)) / 9, {"poisson": 0}, "poisson"),
        (np.ones((9, 9)), np.ones((3, 3)) / 9, {"mode": "full"}, "mode"),
        (np.ones((5, 5)), np.ones((7, 7)) / 49, {}, "larger than the image"),
        (np.ones((9, 9)), np.ones(3) / 3, {}, "2D"),
    ],
)
def test_bad_inputs(x, k, kwargs, match):
    with pytest.raises(ValueError, match=match):
        degrade(x, k, **kwargs)
