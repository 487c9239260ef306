"""Training-data generation: the Degrader's shapes, context and determinism."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("glra_trainer")

from glra_trainer.data import Degrader, validation_set  # noqa: E402


def test_context_widens_the_observation_only(small_basis):
    imgs = [np.random.default_rng(0).random((120, 120)).astype(np.float32)]
    plain = Degrader(small_basis, crop=24, kmax=21, balances=(0.5, 1.0))
    wide = Degrader(small_basis, crop=24, kmax=21, balances=(0.5, 1.0), context=10)
    y, x, M = plain.batch(imgs, 3, np.random.default_rng(1))
    assert y.shape == x.shape == (3, 1, 24, 24) and M.shape == (3, 2, small_basis.m, small_basis.m)
    y, x, M = wide.batch(imgs, 3, np.random.default_rng(1))
    assert y.shape == (3, 1, 44, 44) and x.shape == (3, 1, 24, 24)
    again = wide.batch(imgs, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(again[0], y)  # seeded


def test_context_target_is_the_sharp_centre(small_basis):
    """Without saturation x is the sharp pixels under the centre of y (valid blur + context)."""
    rng = np.random.default_rng(2)
    sharp = rng.random((24 + 2 * 10 + 20, 24 + 2 * 10 + 20))
    d = Degrader(small_basis, crop=24, kmax=21, context=10)
    s = d.make(sharp, "gaussian", 0.01, rng, saturate=False)
    assert s.y.shape == (44, 44) and s.x.shape == (24, 24)
    np.testing.assert_allclose(s.x, sharp[20:44, 20:44], atol=1e-6)
    # the observation is blurred: smoother than the sharp crop under it
    assert np.abs(np.diff(s.y[10:-10, 10:-10], axis=1)).mean() < np.abs(np.diff(s.x, axis=1)).mean()


def test_validation_set_with_context_is_fixed(small_basis):
    d = Degrader(small_basis, crop=16, kmax=21, context=6)
    a = validation_set(d, None, 1, 0.01, 5)
    b = validation_set(d, None, 1, 0.01, 5)
    assert [s.family for s in a] == list(d.families)
    for s, t in zip(a, b):
        assert s.y.shape == (28, 28) and s.x.shape == (16, 16)
        np.testing.assert_array_equal(s.y, t.y)


# --------------------------------------------------------------------------- microscopy


@pytest.fixture(scope="module")
def wide_basis():
    """A d=51 basis (random orthonormal columns): large enough for 45-px defocus kernels.

    Its quality does not matter here (the tests check shapes, noise and sources).
    """
    from napari_glra.glra.basis import Basis

    rng = np.random.default_rng(0)
    L = np.linalg.qr(rng.normal(size=(51, 4)))[0]
    R = np.linalg.qr(rng.normal(size=(51, 4)))[0]
    return Basis(L, R, {"prior": "gradient", "version": "test"})


def test_poisson_gaussian_variance_grows_with_signal(small_basis):
    from napari_glra.physics.degrade import effective_noise

    # left half dark, right half bright; a small Gaussian blur keeps the halves apart
    sharp = np.full((64 + 20, 64 + 20), 0.02)
    sharp[:, 42:] = 0.8
    d = Degrader(small_basis, crop=64, kmax=21, families=("gaussian",), noise_model="poisson_gaussian")
    rng = np.random.default_rng(0)
    dark, bright, sigmas = [], [], []
    for _ in range(20):
        s = d.make(sharp, "gaussian", 2.0 / 100, rng, saturate=False, peak=100.0)
        dark.append(s.y[:, :15])
        bright.append(s.y[:, -15:])
        sigmas.append(s.noise)
        assert s.peak == 100.0
    var_dark, var_bright = np.var(dark, axis=0).mean(), np.var(bright, axis=0).mean()
    # Poisson: variance = signal / peak (+ read noise²)
    assert var_bright == pytest.approx(0.8 / 100 + 0.02**2, rel=0.15)
    assert var_dark == pytest.approx(0.02 / 100 + 0.02**2, rel=0.15)
    assert var_bright > 10 * var_dark
    # the network is conditioned on the effective std sqrt(mean variance) of the observation
    clean = np.where(np.arange(64) < 32, 0.02, 0.8)  # about (blur is small)
    assert np.mean(sigmas) == pytest.approx(effective_noise(clean[None, :], 0.02, 100.0), rel=0.1)


def test_poisson_gaussian_noise_matches_the_engine_estimate(wide_basis):
    """The std given to the network is what napari_glra.engine.noise measures on the observation."""
    from napari_glra.engine.noise import estimate_noise_plane
    from napari_glra.physics.psf import prepare_psf

    d = Degrader(
        wide_basis,
        crop=160,
        kmax=31,
        families=("gaussian",),
        noise_model="poisson_gaussian",
        source="fluorescence",
        p_saturation=0.0,
    )
    rng = np.random.default_rng(3)
    for peak in (100.0, 1000.0):
        s = d.make(d.random_patch(None, rng), "gaussian", 2.0 / peak, rng, peak=peak)
        k = prepare_psf(np.ones((3, 3)) / 9, max_size=None)  # the PCA estimate dominates
        assert estimate_noise_plane(s.y, k) == pytest.approx(s.noise, rel=0.15)


def test_random_noise_models(small_basis):
    rng = np.random.default_rng(0)
    g = Degrader(small_basis, noise_range=(0.01, 0.02))
    for _ in range(5):
        noise, peak = g.random_noise(rng)
        assert 0.01 <= noise <= 0.02 and peak is None
    pg = Degrader(small_basis, noise_model="poisson_gaussian", peak_range=(50, 500), read_range=(1, 3))
    for _ in range(5):
        read, peak = pg.random_noise(rng)
        assert 50 <= peak <= 500 and 1 <= read * peak <= 3
    with pytest.raises(ValueError, match="noise model"):
        Degrader(small_basis, noise_model="speckle")
    with pytest.raises(ValueError, match="image source"):
        Degrader(small_basis, source="camera")


def test_defocus_family_in_the_degrader(wide_basis):
    fams = ("gaussian", "defocus")
    d = Degrader(wide_basis, crop=24, kmax=45, families=fams, balances=(0.5, 1.0), context=4)
    y, x, M = d.batch(None, 3, np.random.default_rng(2))
    assert y.shape == (3, 1, 32, 32) and x.shape == (3, 1, 24, 24) and M.shape == (3, 2, 4, 4)
    s = d.make(d.random_patch(None, np.random.default_rng(1)), "defocus", 0.01, np.random.default_rng(1))
    assert s.family == "defocus" and np.all(np.isfinite(s.M)) and s.y.shape == (32, 32)
    v = validation_set(d, None, 1, 0.01, 5)
    assert [s.family for s in v] == ["gaussian", "defocus"]


@pytest.mark.parametrize("source", ["folder", "fluorescence", "mixed"])
def test_every_source_with_context(small_basis, source):
    imgs = [np.full((120, 120), 0.5, np.float32)]  # a flat natural "image": easy to tell apart
    d = Degrader(small_basis, crop=24, kmax=21, context=10, source=source, p_natural=0.5)
    assert d.patch_size == 24 + 20 + 20
    rng = np.random.default_rng(4)
    patches = [d.random_patch(imgs, rng) for _ in range(12)]
    assert all(p.shape == (64, 64) for p in patches)
    flat = [bool(np.all(p == 0.5)) for p in patches]
    if source == "folder":
        assert all(flat)
    elif source == "fluorescence":
        assert not any(flat)
        assert all(np.median(p) < 0.1 for p in patches)  # dark background
    else:
        assert any(flat) and not all(flat)
    y, x, M = d.batch(imgs, 2, np.random.default_rng(1))
    assert y.shape == (2, 1, 44, 44) and x.shape == (2, 1, 24, 24)
    # validation sets stay fixed with every source
    a, b = validation_set(d, imgs, 1, 0.01, 5), validation_set(d, imgs, 1, 0.01, 5)
    np.testing.assert_array_equal(a[0].y, b[0].y)


def test_fluorescence_gain(small_basis):
    plain = Degrader(small_basis, crop=24, kmax=21, source="fluorescence")
    gained = Degrader(small_basis, crop=24, kmax=21, source="fluorescence", gain_range=(2.0, 2.0 + 1e-9))
    a = plain.random_patch(None, np.random.default_rng(0))
    b = gained.random_patch(None, np.random.default_rng(0))
    assert a.max() <= 1.0 and b.max() > 1.0


def test_family_weights(small_basis):
    d = Degrader(small_basis, crop=16, kmax=21, families=("gaussian", "disk"), family_weights=(0, 3))
    assert d.family_weights == (0.0, 1.0)
    seen: list[str] = []
    make = d.make
    d.make = lambda sharp, fam, *a, **kw: seen.append(fam) or make(sharp, fam, *a, **kw)
    d.batch(None, 5, np.random.default_rng(0))
    assert seen == ["disk"] * 5
    for bad in ((1.0,), (1.0, -1.0), (0.0, 0.0)):
        with pytest.raises(ValueError, match="family_weights must be 2 non-negative"):
            Degrader(small_basis, families=("gaussian", "disk"), family_weights=bad)


def test_border_samples_match_the_engine_extension(small_basis):
    """cut_border keeps the observed rectangle, extends it as the engine does, mirrors beyond."""
    from napari_glra.engine.border import border_extension, border_pad
    from napari_glra.physics.kernels import make_kernel

    rng = np.random.default_rng(3)
    d = Degrader(small_basis, crop=48, kmax=21, context=16, p_border=1.0)
    k = make_kernel("gaussian", sigma=1.5)
    n = d.crop + 2 * d.context
    y = rng.random((n, n)).astype(np.float32)
    for _ in range(6):
        yc, obs = d.cut_border(y, k, 0.01, rng)
        assert yc.shape == obs.shape == (n, n) and obs.dtype == np.float32
        rows, cols = np.where(obs.any(1))[0], np.where(obs.any(0))[0]
        a0, a1, b0, b1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        assert obs[a0:a1, b0:b1].all() and obs.sum() == (a1 - a0) * (b1 - b0) < n * n
        assert a0 <= d.context + d.crop // 3 and n - a1 <= d.context + d.crop // 3
        np.testing.assert_array_equal(yc[a0:a1, b0:b1], y[a0:a1, b0:b1])
        p = border_pad(k.shape)
        ext = border_extension(y[a0:a1, b0:b1], k, 0.01)
        rr = slice(max(0, a0 - p), min(n, a1 + p))
        cc = slice(max(0, b0 - p), min(n, b1 + p))
        ref = ext[rr.start - (a0 - p) : rr.stop - (a0 - p), cc.start - (b0 - p) : cc.stop - (b0 - p)]
        np.testing.assert_allclose(yc[rr, cc], ref, atol=1e-6)
        if a0 - p > 0:  # mirrored beyond the extension
            np.testing.assert_allclose(yc[a0 - p - 1], yc[a0 - p])


def test_batch_observed_and_p_border(small_basis):
    imgs = [np.random.default_rng(0).random((160, 160)).astype(np.float32)]
    d = Degrader(small_basis, crop=32, kmax=21, context=12, p_border=0.5)
    y, x, M, obs = d.batch_observed(imgs, 8, np.random.default_rng(1))
    assert obs.shape == y.shape == (8, 1, 56, 56) and x.shape == (8, 1, 32, 32)
    cut = [bool((o < 1).any()) for o in obs[:, 0]]
    assert any(cut) and not all(cut)
    plain = Degrader(small_basis, crop=32, kmax=21, context=12)
    assert np.all(plain.batch_observed(imgs, 3, np.random.default_rng(1))[3] == 1)
    with pytest.raises(ValueError, match="p_border"):
        Degrader(small_basis, p_border=1.5)


def test_kernel_ranges_widen_the_training_kernels(small_basis):
    """``kernel_ranges``: training draws beyond the basis ranges, up to ``kmax``."""
    d = Degrader(
        small_basis,
        crop=16,
        kmax=41,
        families=("gaussian",),
        kernel_ranges={"gaussian": {"sigma": (5.0, 6.0)}},
    )
    sizes = {d.random_kernel("gaussian", np.random.default_rng(i)).shape[0] for i in range(5)}
    assert min(sizes) >= 31 and max(sizes) <= 41  # sigma 5-6 (6 sigma + 1 px), never above kmax
    plain = Degrader(small_basis, crop=16, kmax=41, families=("gaussian",))
    assert max(plain.random_kernel("gaussian", np.random.default_rng(i)).shape[0] for i in range(5)) <= 29
    too_big = Degrader(
        small_basis, kmax=21, families=("gaussian",), kernel_ranges={"gaussian": {"sigma": (5.0, 6.0)}}
    )
    with pytest.raises(ValueError, match="larger than kmax = 21"):
        too_big.random_kernel("gaussian", np.random.default_rng(0))
    with pytest.raises(ValueError, match="not trained"):
        Degrader(small_basis, families=("gaussian",), kernel_ranges={"disk": {"radius": (4.0, 5.0)}})
