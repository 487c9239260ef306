import warnings

import numpy as np
import pytest


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    pytest.importorskip("matplotlib")
    from napari_glra import demo

    out = tmp_path_factory.mktemp("demo")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="no shipped basis")
        scores = demo.main(["--out", str(out)])
    return out, scores


@pytest.mark.slow
def test_demo_writes_images_and_scores(demo_run):
    import tifffile

    out, scores = demo_run
    assert (out / "side_by_side.png").stat().st_size > 10_000
    for name in ("sharp", "blurred", "glra_linear", "wiener", "kernel"):
        assert (out / f"{name}.tif").is_file()
    lin = tifffile.imread(out / "glra_linear.tif")
    assert lin.dtype == np.float32 and lin.shape == tifffile.imread(out / "blurred.tif").shape
    assert set(scores) == {"blurred", "glra_linear", "wiener"}
    assert all(np.isfinite(v) for v in scores.values())
    assert scores["glra_linear"] > scores["blurred"] + 2
    assert scores["wiener"] > scores["blurred"] + 2


@pytest.mark.slow
def test_demo_linear_block_within_0p1_db_of_wiener(demo_run):
    _, scores = demo_run
    assert abs(scores["wiener"] - scores["glra_linear"]) <= 0.1


def test_wiener_and_psnr_helpers():
    from napari_glra.demo import psnr, wiener
    from napari_glra.kernels import make_kernel

    k = make_kernel("gaussian", sigma=1.0)
    x = np.random.default_rng(0).uniform(size=(40, 40))
    assert psnr(x, x + 0.1) == pytest.approx(20.0)
    assert psnr(x, x + 0.1, border=5) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(x, x[1:])
    from scipy.ndimage import convolve

    y = convolve(x, k, mode="mirror")
    assert wiener(y, k, 1e-6).shape == y.shape
    assert psnr(wiener(y, k, 1e-5), x, border=8) > psnr(y, x, border=8) + 5
