"""Dask results computed in worker processes: the plan travels small, the model by reference."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
cloudpickle = pytest.importorskip("cloudpickle")

from napari_glra import api  # noqa: E402
from napari_glra.engine.plan import make_plan  # noqa: E402


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(0)
    k = api.make_kernel("gaussian", sigma=1.6)
    planes = [api.degrade(rng.random((72, 72)), k, noise=0.01, seed=i, mode="same")[0] for i in range(3)]
    return np.stack(planes).astype(np.float32), k


def test_a_plan_pickles_the_model_by_reference(stack):
    x, k = stack
    plan = make_plan(da.from_array(x, chunks=(1, 72, 72)), k, noise_level=0.01)
    blob = cloudpickle.dumps(plan)
    weights = len(pickle.dumps(plan.model.net.state_dict()))
    assert len(blob) < 200_000 < weights  # not the ~1 MB of weights, not the input's graph
    again = pickle.loads(blob)
    assert again.planes is None and again.model.name == "default"
    assert np.array_equal(again.coefficients, plan.coefficients)


@pytest.mark.slow
def test_dask_result_computed_in_worker_processes_equals_numpy(stack):
    x, k = stack
    ref = api.deconvolve(x, k, noise_level=0.01)
    lazy = api.deconvolve(da.from_array(x, chunks=(1, 72, 72)), k, noise_level=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = lazy.compute(scheduler="processes", num_workers=2)
    np.testing.assert_allclose(out, ref, atol=1e-6)
