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
        warnings.filterwarnings("ignore", message="no trained model")
        scores = demo.main(["--out", str(out)])
    return out, scores


@pytest.mark.slow
def test_demo_writes_images_and_scores(demo_run):
    import tifffile

    out, scores = demo_run
    assert (out / "side_by_side.png").stat().st_size > 10_000
    for name in ("sharp", "blurred", "glra_linear", "wiener_same_reg", "kernel"):
        assert (out / f"{name}.tif").is_file()
    lin = tifffile.imread(out / "glra_linear.tif")
    assert lin.dtype == np.float32 and lin.shape == tifffile.imread(out / "blurred.tif").shape
    assert {"blurred", "glra_linear", "wiener_same_reg"} <= set(scores)
    assert all(np.isfinite(v) for v in scores.values())
    assert scores["glra_linear"] > scores["blurred"] + 2
    assert scores["wiener_same_reg"] > scores["blurred"] + 2
    from napari_glra.api import available_models

    if "default" in available_models():  # the shipped model is used and compared
        assert {"napari_glra", "wiener_tuned", "rl_tuned"} <= set(scores)
        assert (out / "before_after.png").stat().st_size > 10_000
        assert scores["napari_glra"] > scores["blurred"] + 2


@pytest.mark.slow
def test_demo_linear_block_within_0p1_db_of_wiener(demo_run):
    _, scores = demo_run
    assert abs(scores["wiener_same_reg"] - scores["glra_linear"]) <= 0.1


def test_wiener_and_psnr_helpers():
    from napari_glra.demo import wiener
    from napari_glra.metrics import psnr
    from napari_glra.physics.kernels import make_kernel

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


@pytest.mark.slow
def test_demo_with_a_model_compares_all_methods(tiny_model_dir, tmp_path):
    from napari_glra import demo

    # the tiny test model's basis takes kernels up to 15 px: a short blur
    scores = demo.main(["--out", str(tmp_path), "--model", str(tiny_model_dir), "--length", "7"])
    assert {"napari_glra", "wiener_tuned", "rl_tuned", "glra_linear", "wiener_same_reg"} <= set(scores)
    assert (tmp_path / "before_after.png").is_file() and (tmp_path / "napari_glra.tif").is_file()
    # tuned classical methods beat the blurred input
    assert scores["wiener_tuned"] > scores["blurred"] + 1 and scores["rl_tuned"] > scores["blurred"] + 1
