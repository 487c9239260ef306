"""A kernel unlike the model's training families gives a warning before anything runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_glra import api
from napari_glra.engine.families import FAMILY_TOLERANCE, family_distance, family_warning
from napari_glra.engine.ranges import OutsideTrainingWarning
from napari_glra.engine.registry import load_model
from napari_glra.physics.kernels import sample_kernel


def test_members_are_close_and_other_shapes_far():
    rng = np.random.default_rng(5)
    for fam in ("gaussian", "defocus"):
        for _ in range(4):
            k, _ = sample_kernel(fam, rng)
            assert min(family_distance(k, "gaussian"), family_distance(k, "defocus")) < FAMILY_TOLERANCE
    disk = api.make_kernel("disk", radius=10)
    assert family_distance(disk, "disk") < 0.01
    for other in (disk, np.ones((15, 15)) / 225.0, api.make_kernel("motion", length=15, seed=1)):
        assert min(family_distance(other, "gaussian"), family_distance(other, "defocus")) > FAMILY_TOLERANCE


def test_microscopy_model_warns_for_a_disk_and_suggests_default():
    micro = load_model("microscopy")
    assert family_warning(micro, api.make_kernel("gaussian", sigma=2.0)) is None
    msg = family_warning(micro, api.make_kernel("disk", radius=10))
    assert msg is not None and "like a disk kernel" in msg and "'default'" in msg
    msg = family_warning(micro, api.make_kernel("motion", length=15, seed=2))
    assert msg is not None and "'default' was trained on motion" in msg


def test_models_trained_on_motion_are_not_checked():
    assert family_warning(load_model("default"), np.ones((15, 15)) / 225.0) is None


def test_the_engine_warns_once_and_records_it():
    rng = np.random.default_rng(0)
    img = rng.random((96, 96)).astype(np.float32)
    k = api.make_kernel("disk", radius=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, info = api.deconvolve(img, k, model="microscopy", noise_level=0.01, return_info=True)
    family = [
        w for w in caught if issubclass(w.category, OutsideTrainingWarning) and "unlike" in str(w.message)
    ]
    assert len(family) == 1
    assert any("unlike the gaussian/defocus kernels" in m for m in info["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideTrainingWarning)
        api.deconvolve(img, api.make_kernel("gaussian", sigma=2.0), model="microscopy", noise_level=0.01)


@pytest.mark.parametrize("family", ["gaussian", "disk", "defocus"])
def test_distance_is_zero_for_a_bank_member(family):
    from napari_glra.engine.families import _bank

    k = _bank(family)[len(_bank(family)) // 2]
    assert family_distance(k / k.sum(), family) < 1e-9
