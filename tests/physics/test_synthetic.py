"""The procedural fluorescence generator: seeded, on [0, 1], dark background, each kind of structure."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from napari_glra._sample_data import synthetic_fluorescence
from napari_glra.physics.synthetic import STRUCTURES, fluorescence_image


def test_seeded_and_deterministic():
    a = fluorescence_image((80, 100), np.random.default_rng(3))
    b = fluorescence_image((80, 100), np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fluorescence_image((80, 100), np.random.default_rng(4)))
    np.testing.assert_array_equal(fluorescence_image((40, 40), 7), fluorescence_image((40, 40), 7))
    # the sample data is this generator (one copy)
    np.testing.assert_array_equal(synthetic_fluorescence((64, 64), seed=2), fluorescence_image((64, 64), 2))


@pytest.mark.parametrize("seed", range(6))
def test_range_dark_background_and_dynamic_range(seed):
    x = fluorescence_image((192, 160), np.random.default_rng(seed))
    assert x.shape == (192, 160) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert 0.7 <= x.max() <= 1.0  # brightest pixel in `peak`
    bg = np.percentile(x, 1)
    assert 0.0 < bg < 0.05  # small offset
    assert np.mean(x < bg + 0.05) > 0.5  # mostly dark background
    # wide dynamic range: structures (well above the background) span more than a decade
    sig = x[x > bg + 0.01] - bg
    assert np.percentile(sig, 99.9) / np.percentile(sig, 5) > 10


def _components(x: np.ndarray, frac: float = 0.1) -> tuple[np.ndarray, int]:
    bg = np.percentile(x, 1)
    return ndimage.label(x > bg + frac * (x.max() - bg))


def test_each_kind_of_structure():
    rng = np.random.default_rng(0)
    shape = (160, 160)
    # puncta: small isolated spots
    x = fluorescence_image(shape, rng, structures=["puncta"], density=2.0, background=(0.01, 0.01))
    lab, n = _components(x, 0.05)
    areas = np.bincount(lab.ravel())[1:]
    assert n >= 10 and np.median(areas) <= 9
    # filaments: long and thin (area small compared with the extent)
    x = fluorescence_image(shape, rng, structures=["filaments"], density=2.0, dynamic_range=1.0)
    lab, n = _components(x, 0.2)
    extents = [max(s.stop - s.start for s in o) for o in ndimage.find_objects(lab)]
    longest = int(np.argmax(extents))
    extent = extents[longest]
    assert extent >= 40 and np.count_nonzero(lab == longest + 1) < 0.1 * extent**2
    # membranes: closed contours (their masks have holes)
    x = fluorescence_image(shape, rng, structures=["membranes"], density=3.0, dynamic_range=1.0)
    mask = x > np.percentile(x, 1) + 0.2 * (x.max() - np.percentile(x, 1))
    assert ndimage.binary_fill_holes(mask).sum() > mask.sum() + 50
    # blobs: compact, filled objects several pixels across
    x = fluorescence_image(shape, rng, structures=["blobs"], density=2.0, dynamic_range=1.0)
    lab, n = _components(x, 0.3)
    objs = ndimage.find_objects(lab)
    fill = [np.count_nonzero(lab[o] == i + 1) / lab[o].size for i, o in enumerate(objs)]
    areas = np.bincount(lab.ravel())[1:]
    assert n >= 2 and max(a for a, f in zip(areas, fill) if f > 0.5) >= 12


def test_no_structure_gives_the_background_only():
    x = fluorescence_image((32, 32), 0, structures=[])
    assert x.max() - x.min() < 0.05 and x.max() < 0.1


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown structures"):
        fluorescence_image((32, 32), 0, structures=["cells"])
    with pytest.raises(ValueError, match="peak"):
        fluorescence_image((32, 32), 0, peak=(0.5, 1.5))
    with pytest.raises(ValueError, match="background"):
        fluorescence_image((32, 32), 0, background=(0.2, 0.9))
    with pytest.raises(ValueError, match="dynamic_range"):
        fluorescence_image((32, 32), 0, dynamic_range=0.5)
    assert set(STRUCTURES) == {"filaments", "membranes", "blobs", "puncta"}


def test_fast_enough_for_on_the_fly_training():
    rng = np.random.default_rng(1)
    fluorescence_image((300, 300), rng)  # warm-up
    t = time.perf_counter()
    for _ in range(5):
        fluorescence_image((300, 300), rng)
    # ~20-40 ms per 300x300 image on one core; generous bound for loaded CI machines
    assert (time.perf_counter() - t) / 5 < 0.5
