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
