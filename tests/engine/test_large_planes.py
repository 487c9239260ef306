"""Large planes: extension from border strips, windows read on demand, block-parallel dask planes.

The size thresholds are lowered so that small images take the large-plane paths.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage import data

from napari_glra import api
from napari_glra.engine import extended, inputs
from napari_glra.engine.intensity import fit_intensity_map
from napari_glra.metrics import psnr

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def scene():
    """A 360 x 400 natural image blurred by a motion kernel (valid), 1 % noise, and the kernel.

    Large enough for border strips (6 border widths = 252 px deep) shallower than the plane.
    """
    x = data.astronaut().mean(-1)[40:426, 60:486] / 255.0
    k = api.make_kernel("motion", length=21, seed=1)
    y, _ = api.degrade(x, k, noise=0.01, saturation=None, seed=3)
    p = k.shape[0] // 2
    return x[p:-p, p:-p], y.astype(np.float32), k


@pytest.fixture
def large(monkeypatch):
    """Every plane above 4,000 px is 'large': strips of 96 px, samples of 4,000 px."""
    monkeypatch.setattr(extended, "LARGE_PLANE", 4000)
    monkeypatch.setattr(extended, "STRIP_DEPTH", 96)
    monkeypatch.setattr(inputs, "LARGE_SAMPLE", 4000)


def _restore(img, k, **kw):
    kw.setdefault("noise_level", 0.01)
    return api.deconvolve(img, k, model="fast", precision="float32", **kw)


def test_large_plane_tiled_equals_untiled(scene, large):
    _, y, k = scene
    ref = _restore(y, k)
    tiled = _restore(y, k, tile_size=80)
    np.testing.assert_allclose(tiled, ref, atol=1e-4)


def test_strip_extension_restores_as_well_as_the_whole_plane_one(scene, monkeypatch):
    """The strips' extension differs from the whole plane's near the border, not in quality."""
    x, y, k = scene
    small = _restore(y, k)
    monkeypatch.setattr(extended, "LARGE_PLANE", 4000)
    monkeypatch.setattr(extended, "STRIP_DEPTH", 96)
    big = _restore(y, k)
    assert np.abs(big - small).max() > 0  # the large-plane path really ran
    np.testing.assert_allclose(big[120:-120, 120:-120], small[120:-120, 120:-120], atol=1e-3)
    frame = np.ones(x.shape, bool)
    frame[24:-24, 24:-24] = False  # the 24 px band along the border
    # measured on 6 BSDS500 test images x 3 kernels (24 px band): -0.08 to +0.01 dB
    assert psnr(big[frame], x[frame]) > psnr(small[frame], x[frame]) - 0.2


def test_large_plane_planning_reads_a_sample(scene, large):
    """The map of a large plane is the one of the whole plane; noise from the central crop."""
    _, y, k = scene
    img = np.clip(y * 3000 + 200, 0, 65535).astype(np.uint16)
    planes = inputs.analyse_image(img)
    assert planes.large
    (crop,) = planes.samples()
    assert crop.size <= 4000 and crop.shape[0] < img.shape[0]
    whole = fit_intensity_map([img], img.dtype)
    res, info = api.deconvolve(img, k, model="fast", precision="float32", return_info=True)
    assert res.dtype == np.float32 and res.shape == img.shape
    assert info["intensity_map"] == whole.to_dict()


def test_large_plane_outlier_stays_local(scene, large):
    _, y, k = scene
    ref = _restore(y, k)
    hot = y.copy()
    hot[100, 120] = 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = _restore(hot, k)
    far = np.ones(out.shape, bool)
    far[100 - 60 : 100 + 60, 120 - 60 : 120 + 60] = False
    assert np.abs(out - ref)[far].max() < 1e-3


def test_large_plane_with_nan_is_refused(scene, large):
    _, y, k = scene
    bad = y.copy()
    bad[5, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _restore(bad, k)


@pytest.mark.parametrize("is_large", [False, True])
def test_dask_plane_chunked_in_blocks_restores_block_parallel(scene, monkeypatch, is_large):
    _, y, k = scene
    if is_large:
        monkeypatch.setattr(extended, "LARGE_PLANE", 4000)
        monkeypatch.setattr(extended, "STRIP_DEPTH", 96)
        monkeypatch.setattr(inputs, "LARGE_SAMPLE", 4000)
    ref = _restore(y, k)
    d = da.from_array(y, chunks=(100, 90))  # an odd chunk edge (90) is moved to the cell grid
    lazy = _restore(d, k)
    assert lazy.chunks == d.chunks  # the input's chunking is kept
    assert len(lazy.dask) > 8  # one task per block (and their inputs), not one merged chunk
    np.testing.assert_allclose(lazy.compute(scheduler="threads"), ref, atol=1e-4)


def test_block_parallel_graph_carries_the_plan_once_and_small(scene):
    cloudpickle = pytest.importorskip("cloudpickle")
    _, y, k = scene
    lazy = _restore(da.from_array(y, chunks=(180, 200)), k)
    graph = dict(lazy.__dask_graph__())
    sizes = {str(key): len(cloudpickle.dumps(task)) for key, task in graph.items() if "array" not in str(key)}
    plans = [key for key in sizes if key.startswith("Plan")]
    assert len(plans) == 1  # one key, which every block task refers to
    assert max(sizes.values()) < 200_000, max(sizes.items(), key=lambda kv: kv[1])  # no weights, no input


def test_dask_stack_chunked_in_plane_and_uint16(scene, large):
    _, y, k = scene
    stack = np.stack([y, y[::-1]])
    img = np.clip(stack * 4000 + 200, 0, 65535).astype(np.uint16)
    ref = api.deconvolve(img, k, model="fast", precision="float32", noise_level=0.01)
    lazy = api.deconvolve(
        da.from_array(img, chunks=(1, 180, 200)), k, model="fast", precision="float32", noise_level=0.01
    )
    out = lazy.compute(scheduler="threads")
    assert lazy.chunks == ((1, 1), (180, 180), (200, 200))
    np.testing.assert_allclose(out, ref, atol=0.5)  # counts of a 0-4000 image


def test_zarr_in_zarr_out(scene, tmp_path, large):
    zarr = pytest.importorskip("zarr")
    _, y, k = scene
    src = zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=y.shape, chunks=(128, 144), dtype="f4")
    src[:] = y
    lazy = _restore(da.from_zarr(str(tmp_path / "in.zarr")), k)
    lazy.to_zarr(str(tmp_path / "out.zarr"))
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert out.chunks == (128, 144)
    np.testing.assert_allclose(out[:], _restore(y, k), atol=1e-4)


@pytest.mark.slow
def test_one_plane_on_a_local_cluster_with_two_worker_processes(scene):
    distributed = pytest.importorskip("distributed")
    _, y, k = scene
    ref = api.deconvolve(y, k, noise_level=0.01, precision="float32")
    lazy = api.deconvolve(da.from_array(y, chunks=(128, 144)), k, noise_level=0.01, precision="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, distributed.Client(cluster) as client:
            with distributed.get_task_stream(client) as stream:
                out = client.compute(lazy).result()
    assert len({t["worker"] for t in stream.data}) == 2  # both workers restored blocks
    np.testing.assert_allclose(out, ref, atol=1e-4)
