import numpy as np
import pytest
import torch

from napari_glra.glra.basis import Basis, fit_glram, glra_coefficients, load_basis, relative_error, save_basis


def _stack(n=12, r=20, c=18, seed=0):
    rng = np.random.default_rng(seed)
    # Shared low-rank-ish structure plus noise.
    U = rng.normal(size=(r, 5))
    V = rng.normal(size=(c, 5))
    return np.stack([U @ rng.normal(size=(5, 5)) @ V.T + 0.1 * rng.normal(size=(r, c)) for _ in range(n)])


def test_orthonormal_columns_and_shapes():
    A = _stack()
    L, R, errors = fit_glram(A, 4, iters=5)
    assert L.shape == (20, 4) and R.shape == (18, 4)
    np.testing.assert_allclose(L.T @ L, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(R.T @ R, np.eye(4), atol=1e-10)
    assert 1 <= len(errors) <= 5


def test_error_non_increasing():
    A = _stack(n=20, seed=1)
    errors = []
    fit_glram(A, 3, iters=15, tol=0, callback=lambda it, e: errors.append(e))
    assert len(errors) >= 3
    assert all(b <= a + 1e-12 for a, b in zip(errors, errors[1:]))
    assert 0 < errors[-1] < 1


def test_reported_error_matches_relative_error():
    A = _stack(n=6, seed=2)
    L, R, errors = fit_glram(A, 4, iters=8)
    num = sum(np.sum((a - L @ (L.T @ a @ R) @ R.T) ** 2) for a in A)
    assert errors[-1] == pytest.approx(np.sqrt(num / np.sum(A**2)), rel=1e-8)
    per = relative_error(A, (L, R))
    assert per.shape == (6,) and np.all((per >= 0) & (per <= 1))


@pytest.mark.parametrize("m", [1, 3, 6])
def test_single_matrix_recovers_svd_error(m):
    a = np.random.default_rng(3).normal(size=(15, 12))
    _, errors = fit_glram(a[None], m, iters=100, tol=0)[1:]
    s = np.linalg.svd(a, compute_uv=False)
    best = np.sqrt(np.sum(s[m:] ** 2) / np.sum(s**2))
    assert errors[-1] >= best * (1 - 1e-9)
    assert errors[-1] == pytest.approx(best, rel=1e-4)


def test_full_rank_is_exact():
    A = _stack(n=3, r=6, c=6)
    L, R, errors = fit_glram(A, 6, iters=2)
    assert errors[-1] < 1e-6
    M = glra_coefficients(A[0], (L, R))
    np.testing.assert_allclose(L @ M @ R.T, A[0], atol=1e-8)


def test_accepts_torch_and_float32():
    A = _stack(n=4).astype(np.float32)
    L1, R1, e1 = fit_glram(A, 3, iters=3)
    L2, R2, e2 = fit_glram(torch.from_numpy(A), 3, iters=3)
    np.testing.assert_allclose(np.abs(L1), np.abs(L2), atol=1e-10)
    assert e1 == e2


def test_coefficients_of_stack_and_basis_methods():
    A = _stack(n=5)
    L, R, _ = fit_glram(A, 4, iters=4)
    b = Basis(L, R, {"prior": "gradient"})
    assert (b.d, b.m) == (20, 4)
    Ms = glra_coefficients(A, b)
    assert Ms.shape == (5, 4, 4)
    np.testing.assert_allclose(Ms[2], b.coefficients(A[2]))
    assert b.error(A[2]) == pytest.approx(relative_error(A, b)[2])


def test_basis_kernel_coefficients(small_basis):
    from napari_glra.physics.kernels import make_kernel

    M, err = small_basis.kernel_coefficients(make_kernel("gaussian", sigma=1.7), noise_level=0.01)
    assert M.shape == (small_basis.m, small_basis.m)
    assert 0 <= err < 0.5


def test_save_load_round_trip(tmp_path):
    A = _stack(n=5, r=20, c=20)
    L, R, _ = fit_glram(A, 4, iters=4)
    meta = {"version": "t", "heldout_error": {"gaussian": 0.01}, "families": {"gaussian": {"sigma": [1, 2]}}}
    path = save_basis(Basis(L, R, meta), tmp_path / "sub" / "basis.safetensors")
    b = load_basis(path)
    np.testing.assert_allclose(b.L, L, atol=1e-6)  # stored as float32
    np.testing.assert_allclose(b.R, R, atol=1e-6)
    assert b.metadata["heldout_error"] == {"gaussian": 0.01}
    assert (b.metadata["d"], b.metadata["m"]) == (20, 4) == (b.d, b.m)
    assert b.L.dtype == np.float64


def test_load_missing_or_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no basis file"):
        load_basis(tmp_path / "missing.safetensors")
    from safetensors.numpy import save_file

    save_file({"L": np.zeros((5, 2), np.float32), "R": np.zeros((5, 3), np.float32)}, str(tmp_path / "b.st"))
    with pytest.raises(ValueError, match="must both be"):
        load_basis(tmp_path / "b.st")


@pytest.mark.parametrize(
    "stack,m,match",
    [
        (np.ones((4, 4)), 2, "shape"),
        (np.ones((0, 4, 4)), 2, "shape"),
        (np.full((2, 4, 4), np.nan), 2, "NaN"),
        (np.ones((2, 4, 4)), 0, "rank"),
        (np.ones((2, 4, 3)), 4, "rank"),
        (np.ones((2, 4, 4)), 1.5, "rank"),
        (np.zeros((2, 4, 4)), 2, "all zeros"),
    ],
)
def test_bad_inputs(stack, m, match):
    with pytest.raises(ValueError, match=match):
        fit_glram(stack, m)


def test_coefficients_shape_mismatch():
    L = np.linalg.qr(np.random.default_rng(0).normal(size=(9, 3)))[0]
    with pytest.raises(ValueError, match="basis expects"):
        glra_coefficients(np.ones((7, 7)), (L, L))
