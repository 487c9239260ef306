"""Property-based tests of ``api.deconvolve``: dtype x shape x scale x offset x kernel family/size.

Every case either raises ``ValueError``/``TypeError`` with a message, or returns a finite
array of the input's shape; where the case is well posed (a kernel within the model's
limit, an image several kernels wide, enough intensity levels) the result is closer to
the sharp image than the blurred input is.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.signal import fftconvolve
from skimage import data

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from napari_glra import api  # noqa: E402

DTYPES = ["uint8", "uint16", "int32", "float32", "float64"]
FAMILIES = {
    "gaussian": lambda v: api.make_kernel("gaussian", sigma=0.8 + 2.5 * v),
    "disk": lambda v: api.make_kernel("disk", radius=1.0 + 5.0 * v),
    "motion": lambda v: api.make_kernel("motion", length=3.0 + 12.0 * v, seed=3),
    "box": lambda v: np.full((3 + 2 * int(4 * v),) * 2, 1.0),
}
SHARP = data.camera().astype(np.float64) / 255.0

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same cases on every run
    suppress_health_check=[HealthCheck.too_slow],
)


def _case(dtype: str, size: tuple[int, int], scale: float, offset: float, family: str, v: float, where: int):
    """Sharp and blurred images on the requested dtype/scale/offset, and the kernel."""
    k = FAMILIES[family](v)
    k = k / k.sum()
    h, w = size
    r0, c0 = 60 + (where * 37) % 300, 80 + (where * 53) % 300
    x = SHARP[r0 : r0 + h, c0 : c0 + w]
    p = k.shape[0] // 2
    y = fftconvolve(np.pad(x, p, mode="reflect"), k, mode="valid")
    y = y + 0.01 * np.random.default_rng(where).standard_normal(y.shape)
    xs, ys = offset + scale * x, offset + scale * y
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        ys = np.clip(np.rint(ys), info.min, info.max)
    return xs, ys.astype(dtype), k


def _rmse(a: np.ndarray, b: np.ndarray, border: int) -> float:
    sl = (slice(border, -border),) * 2
    return float(np.sqrt(np.mean((np.asarray(a, np.float64)[sl] - b[sl]) ** 2)))


@SETTINGS
@given(
    dtype=st.sampled_from(DTYPES),
    size=st.one_of(
        st.tuples(st.integers(8, 48), st.integers(8, 48)),
        st.tuples(st.integers(64, 128), st.integers(64, 128)),
    ),
    log_scale=st.floats(-3, 3),
    log_offset=st.one_of(st.just(None), st.floats(0, 9)),
    family=st.sampled_from(sorted(FAMILIES)),
    v=st.floats(0, 1),
    where=st.integers(0, 50),
)
@pytest.mark.slow
def test_deconvolve_errors_clearly_or_restores(dtype, size, log_scale, log_offset, family, v, where):
    scale = 10.0**log_scale
    offset = 0.0 if log_offset is None else 10.0**log_offset
    kind = np.dtype(dtype).kind
    if kind in "iu":  # integers: counts of a camera, scale >= 1, within the dtype's range
        scale = max(scale, 1.0)
        info = np.iinfo(dtype)
        offset = float(min(offset, info.max - 2 * scale)) if info.max > 2 * scale else 0.0
        scale = min(scale, (info.max - offset) / 1.5)
    if dtype == "float32":
        offset = min(offset, 1e3 * scale)  # float32 cannot hold detail under a larger offset
    xs, y, k = _case(dtype, size, scale, offset, family, v, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = api.deconvolve(y, k, model="fast")
    except (ValueError, TypeError) as err:
        assert str(err).strip(), "an error without a message"
        hypothesis.event(f"refused: {type(err).__name__}")
        return
    assert out.shape == y.shape
    assert np.all(np.isfinite(out))
    levels = scale if kind in "iu" else np.inf
    well_posed = min(size) >= 4 * k.shape[0] and min(size) >= 40 and levels >= 50
    hypothesis.event("well posed" if well_posed else "restored")
    if well_posed:
        b = k.shape[0]
        assert _rmse(out, xs, b) < _rmse(y, xs, b), (dtype, size, scale, offset, family, k.shape)
