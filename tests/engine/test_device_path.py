"""Next to the network: the border extension on the device, stacks in batches, the resident path."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from napari_glra import api
from napari_glra.engine.border import border_extension
from napari_glra.engine.execute import execute_iter
from napari_glra.engine.plan import make_plan

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(2)
    k = api.make_kernel("disk", radius=4)
    planes = [api.degrade(rng.random((80, 88)), k, noise=0.01, seed=i)[0] for i in range(5)]
    planes[3] = np.full_like(planes[0], 0.4)  # a constant plane in the batch
    return np.stack(planes).astype(np.float32), k


def _drain(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def test_stack_in_batches_equals_plane_by_plane(stack):
    x, k = stack
    plan = make_plan(x, k, noise_level=0.01, model="fast", precision="float32")
    assert plan.batch == 1  # on the CPU planes go one by one (nothing gets slower)
    ref = _drain(execute_iter(plan))
    batched = dataclasses.replace(plan, batch=2)
    steps = list(_steps(execute_iter(batched)))
    assert any("planes per network call" in m for _, m in steps)
    out = _drain(execute_iter(batched))
    np.testing.assert_allclose(out, ref, atol=1e-5)
    np.testing.assert_array_equal(out[3], x[3])


def _steps(gen):
    yield from gen


def test_border_extension_device_argument(stack):
    x, k = stack
    a = border_extension(x[0], k, 0.01)
    b = border_extension(x[0], k, 0.01, device=torch.device("cpu"))
    np.testing.assert_array_equal(a, b)


@needs_cuda
def test_cuda_and_cpu_agree_and_batch(stack):
    x, k = stack
    ref = api.deconvolve(x, k, noise_level=0.01, device="cpu", precision="float32")
    plan = make_plan(x, k, noise_level=0.01, device="cuda", precision="float32")
    assert plan.batch > 1 and plan.resident
    out = _drain(execute_iter(plan))
    np.testing.assert_allclose(out, ref, atol=1e-3)
    ext = border_extension(x[0], k, 0.01, device="cuda")
    np.testing.assert_allclose(ext, border_extension(x[0], k, 0.01), atol=1e-4)


@pytest.mark.parametrize("case", ["float", "uint16-outlier-tiled", "stack-batched", "tta-not-square"])
def test_resident_path_matches_the_numpy_path_on_the_cpu(stack, case):
    """The GPU path (everything in torch on the device) run on the CPU gives the numpy path's result."""
    x, k = stack
    if case == "float":
        img, kw, batch = x[0], {}, 1
    elif case == "uint16-outlier-tiled":
        img = np.clip(x[1] * 3000 + 150, 0, 65535).astype(np.uint16)
        img[40, 41] = 65000
        kw, batch = {"tile_size": 40}, 1
    elif case == "tta-not-square":  # each flip/rotation through the resident path, sides swapped
        img, kw, batch = np.ascontiguousarray(x[0][:, :-9]), {"tta": True}, 1
    else:
        img, kw, batch = x, {}, 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the planted outlier's warning
        plan = make_plan(img, k, noise_level=0.01, model="fast", precision="float32", **kw)
    ref = _drain(execute_iter(plan))
    out = _drain(execute_iter(dataclasses.replace(plan, resident=True, batch=batch)))
    assert out.shape == ref.shape and out.dtype == ref.dtype
    scale = 3000.0 if img.dtype == np.uint16 else 1.0
    np.testing.assert_allclose(out, ref, atol=2e-5 * scale)

