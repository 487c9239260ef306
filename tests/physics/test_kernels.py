import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_glra.physics.kernels import FAMILIES, KERNEL_RANGES, make_kernel, pad_to, sample_kernel

CASES = [
    ("gaussian", {"sigma": 1.3}),
    ("gaussian", {"sigma": 3.0, "size": 25}),
    ("disk", {"radius": 4.5}),
    ("disk", {"radius": 2.0, "size": 9}),
    ("motion", {"length": 9, "seed": 1}),
    ("motion", {"length": 21, "seed": 7}),
]


def _centre_offset(k):
    c = np.array(ndimage.center_of_mass(k))
    return np.abs(c - (np.array(k.shape) - 1) / 2).max()


@pytest.mark.parametrize("kind,params", CASES)
def test_kernel_properties(kind, params):
    k = make_kernel(kind, **params)
    assert k.dtype == np.float64
    assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert np.all(k >= 0)
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert _centre_offset(k) <= 0.5
    if "size" in params:
        assert k.shape == (params["size"],) * 2


def test_gaussian_and_disk_are_symmetric():
    for k in (make_kernel("gaussian", sigma=2.0), make_kernel("disk", radius=3.3)):
        np.testing.assert_allclose(k, k[::-1], atol=1e-15)
        np.testing.assert_allclose(k, k.T, atol=1e-15)


def test_gaussian_width():
    k = make_kernel("gaussian", sigma=2.5, size=41)
    r = np.arange(41) - 20
    var = (k.sum(1) * r**2).sum()
    assert np.sqrt(var) == pytest.approx(2.5, rel=1e-3)


def test_disk_area_antialiased():
    k = make_kernel("disk", radius=4.3)
    # Anti-aliased edges: fractional coverage values exist.
    frac = k / k.max()
    assert np.any((frac > 0.05) & (frac < 0.95))
    # Support area ~ pi r^2 (in units of the plateau value).
    assert frac.sum() == pytest.approx(np.pi * 4.3**2, rel=0.02)


def test_motion_seed_reproducible():
    a = make_kernel("motion", length=15, seed=3)
    b = make_kernel("motion", length=15, seed=3)
    c = make_kernel("motion", length=15, seed=4)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.allclose(a, c)


@pytest.mark.parametrize("length,seed", [(9, 0), (9, 1), (17, 1), (27, 1)])
def test_motion_extent_matches_length(length, seed):
    k = make_kernel("motion", length=length, seed=seed)
    ys, xs = np.nonzero(k > 1e-3 * k.max())
    extent = max(np.ptp(ys), np.ptp(xs)) + 1
    assert length - 2 <= extent <= length + 2


def test_motion_many_seeds_centred_and_complete():
    for length in (9, 17, 27):
        for seed in range(20):
            k = make_kernel("motion", length=length, seed=seed)
            full = make_kernel("motion", length=length, seed=seed, size=2 * length + 5)
            assert _centre_offset(k) <= 0.5
            assert pad_to(k, full.shape[0]).shape == full.shape
            np.testing.assert_allclose(pad_to(k, full.shape[0]), full, atol=1e-12)


def test_sample_kernel_ranges_and_seeds():
    for fam in FAMILIES:
        k1, p1 = sample_kernel(fam, np.random.default_rng(5))
        k2, p2 = sample_kernel(fam, np.random.default_rng(5))
        np.testing.assert_array_equal(k1, k2)
        assert p1 == p2
        ((name, (lo, hi)),) = KERNEL_RANGES[fam].items()
        assert lo <= p1[name] <= hi
        kp, _ = sample_kernel(fam, np.random.default_rng(5), size=61)
        assert kp.shape == (61, 61)
        assert kp.sum() == pytest.approx(1.0)


def test_pad_to_keeps_centre():
    k = make_kernel("gaussian", sigma=1.0, size=7)
    big = pad_to(k, 15)
    assert big.shape == (15, 15) and big[7, 7] == k[3, 3]
    np.testing.assert_array_equal(pad_to(big, 7), k)


@pytest.mark.parametrize(
    "kind,params,exc",
    [
        ("gaussian", {"sigma": 0}, ValueError),
        ("gaussian", {"sigma": -1}, ValueError),
        ("gaussian", {"sigma": np.nan}, ValueError),
        ("gaussian", {"sigma": 1.0, "size": 8}, ValueError),
        ("gaussian", {"sigma": 1.0, "size": 0}, ValueError),
        ("disk", {"radius": 0}, ValueError),
        ("disk", {"radius": 2, "size": 4}, ValueError),
        ("motion", {"length": 1}, ValueError),
        ("motion", {"length": 15, "size": 9}, ValueError),
        ("motion", {"length": 9, "n_points": 2}, ValueError),
        ("banana", {}, ValueError),
        ("gaussian", {"radius": 2}, TypeError),
    ],
)
def test_bad_parameters_raise(kind, params, exc):
    with pytest.raises(exc):
        make_kernel(kind, **params)


def test_sample_kernel_unknown_family():
    with pytest.raises(ValueError, match="unknown kernel family"):
        sample_kernel("banana", np.random.default_rng(0))
    with pytest.raises(ValueError):
        pad_to(make_kernel("gaussian", sigma=1.0), 10)


def test_sample_defocus_kernel_microscopy_ranges():
    from napari_glra.physics.kernels import DEFOCUS_MAX_SIZE
    from napari_glra.physics.optics import nyquist_pixel_size

    rng = np.random.default_rng(3)
    r = KERNEL_RANGES["defocus"]
    sizes = []
    for _ in range(6):
        k, p = sample_kernel("defocus", rng)
        sizes.append(k.shape[0])
        assert k.shape[0] % 2 == 1 and k.shape[0] <= DEFOCUS_MAX_SIZE
        assert k.sum() == pytest.approx(1.0) and k.min() >= 0
        np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-12)  # centred, symmetric
        assert r["na"][0] <= p["na"] <= r["na"][1]
        sampling = p["pixel_size"] / nyquist_pixel_size(p["na"], p["wavelength"])
        assert r["sampling"][0] <= sampling <= r["sampling"][1]
        # the parameters make the same kernel again
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sampling coarser than Nyquist warns
            again = make_kernel("defocus", **p)
        np.testing.assert_allclose(again, k, atol=1e-12)
    assert len(set(sizes)) > 1
    k1, _ = sample_kernel("defocus", np.random.default_rng(9))
    k2, _ = sample_kernel("defocus", np.random.default_rng(9))
    np.testing.assert_array_equal(k1, k2)
    kp, _ = sample_kernel("defocus", np.random.default_rng(9), size=61)
    assert kp.shape == (61, 61) and kp.sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------- requests that cannot be met
@pytest.mark.parametrize(
    "kind,params,match",
    [
        ("gaussian", {"sigma": 1e6}, r"gaussian sigma 1e\+06 px needs a kernel of about 6000001 px"),
        ("gaussian", {"sigma": 200.0}, "sigma <= 166.6"),
        ("disk", {"radius": 1e5}, "disk radius 100000 px needs a kernel of about 200001 px"),
        ("disk", {"radius": 600.0}, "radius <= 500"),
        ("motion", {"length": 2000.0, "seed": 0}, "motion length 2000 px"),
        ("gaussian", {"sigma": 1.0, "size": 1003}, "kernel size 1003 px"),
        ("disk", {"radius": 2.0, "size": 10**6 + 1}, "kernel size 1000001 px"),
        ("motion", {"length": 9, "size": 1003}, "kernel size 1003 px"),
    ],
)
def test_oversized_kernels_fail_fast_with_the_limit(kind, params, match):
    from napari_glra.physics.psf import ABSOLUTE_MAX_SIZE

    with pytest.raises(ValueError, match=match) as info:
        make_kernel(kind, **params)
    assert f"{ABSOLUTE_MAX_SIZE} px limit" in str(info.value) and "ABSOLUTE_MAX_SIZE" in str(info.value)


def test_kernels_up_to_the_limit_are_made():
    from napari_glra.physics.psf import ABSOLUTE_MAX_SIZE

    assert make_kernel("gaussian", sigma=166.6).shape == (ABSOLUTE_MAX_SIZE, ABSOLUTE_MAX_SIZE)
    assert make_kernel("gaussian", sigma=1e6, size=11).shape == (11, 11)  # explicit size: truncated as asked
    assert make_kernel("motion", length=300, seed=2).shape[0] <= ABSOLUTE_MAX_SIZE


def test_large_disk_matches_the_direct_supersampled_coverage():
    """The disk is computed in row blocks (bounded memory); same values as the one-shot form."""
    k = make_kernel("disk", radius=40.3, size=91, supersample=4)
    offs = (np.arange(4) + 0.5) / 4 - 0.5
    fine = ((np.arange(91) - 45)[:, None] + offs[None, :]).ravel()
    ref = ((fine[:, None] ** 2 + fine[None, :] ** 2) <= 40.3**2).reshape(91, 4, 91, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=0, atol=1e-15)


@pytest.mark.parametrize("supersample", [0, -1, 33, 2.5, True])
def test_disk_supersample_is_bounded(supersample):
    with pytest.raises(ValueError, match=r"supersample must be an integer in \[1, 32\]"):
        make_kernel("disk", radius=3.0, supersample=supersample)


def test_sample_kernel_with_other_ranges():
    """``ranges`` replaces the family's training range (the trainer's ``kernel_ranges``)."""
    rng = np.random.default_rng(3)
    sigmas = [sample_kernel("gaussian", rng, ranges={"sigma": (7.0, 9.0)})[1]["sigma"] for _ in range(20)]
    assert min(sigmas) >= 7.0 and max(sigmas) <= 9.0
    k, p = sample_kernel(
        "defocus",
        np.random.default_rng(4),
        ranges={"na": (1.4, 1.4), "sampling": (1, 1), "blur_radius": (0, 0)},
    )
    assert p["na"] == pytest.approx(1.4) and p["defocus"] == 0.0 and k.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must give"):
        sample_kernel("gaussian", rng, ranges={"radius": (1.0, 2.0)})
    with pytest.raises(ValueError, match="must give"):
        sample_kernel("gaussian", rng, ranges={"sigma": (3.0, 2.0)})
