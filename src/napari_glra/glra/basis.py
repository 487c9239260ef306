"""Generalised low-rank approximation of matrices (GLRAM, Ye 2004) and the basis file.

A stack of pseudo-inverse kernels ``A_p`` (``d × d``) is approximated as
``A_p ≈ L M_p Rᵀ`` with ``L, R ∈ R^{d×m}`` shared and orthonormal.  ``L`` and
``R`` form the *basis*; for a new kernel ``M = Lᵀ k† R``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_glra.glra.pseudo_inverse import noise_reg, pseudo_inverse

__all__ = [
    "Basis",
    "fit_glram",
    "glra_coefficients",
    "relative_error",
    "load_basis",
    "save_basis",
]


def _top_eigvecs(S: torch.Tensor, m: int) -> torch.Tensor:
    _, vecs = torch.linalg.eigh(S)
    return vecs[:, -m:].flip(-1)


def fit_glram(
    stack: np.ndarray | torch.Tensor,
    m: int,
    iters: int = 10,
    tol: float = 1e-6,
    callback: Any = None,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Fit shared left/right bases to a stack of matrices (Ye 2004, GLRAM).

    Alternates ``R ← top-m eigvecs of Σ A_pᵀ L Lᵀ A_p`` and
    ``L ← top-m eigvecs of Σ A_p R Rᵀ A_pᵀ`` starting from ``L0 = [I; 0]``,
    vectorised over the stack (batched matrix products, no loop over p).

    Parameters
    ----------
    stack : array of shape (n, r, c)
        Matrices to approximate.
    m : int
        Rank (number of basis columns), ``1 <= m <= min(r, c)``.
    iters : int
        Maximum number of alternations.
    tol : float
        Stop when the relative decrease of the error is below ``tol``.
    callback : callable, optional
        Called as ``callback(iteration, error)`` after each alternation.

    Returns
    -------
    L : numpy.ndarray
        ``(r, m)`` orthonormal columns.
    R : numpy.ndarray
        ``(c, m)`` orthonormal columns.
    errors : list of float
        Relative reconstruction error ``sqrt(Σ‖A - L M Rᵀ‖² / Σ‖A‖²)``
        after each alternation (non-increasing).
    """
    A = torch.as_tensor(np.asarray(stack) if not torch.is_tensor(stack) else stack)
    if A.ndim != 3 or A.shape[0] == 0:
        raise ValueError(f"stack must have shape (n, rows, cols) with n >= 1, got {tuple(A.shape)}")
    if not torch.isfinite(A).all():
        raise ValueError("stack contains NaN or inf")
    n, r, c = A.shape
    if int(m) != m or not 1 <= m <= min(r, c):
        raise ValueError(f"rank m must be an integer in [1, {min(r, c)}], got {m!r}")
    A = A.to(torch.float64)
    total = float((A**2).sum())
    if total == 0:
        raise ValueError("stack is all zeros")
    L = torch.zeros(r, m, dtype=torch.float64)
    L[:m, :m] = torch.eye(m, dtype=torch.float64)
    errors: list[float] = []
    for it in range(int(iters)):
        T = torch.matmul(L.T, A)  # (n, m, c)
        Tf = T.reshape(-1, c)
        R = _top_eigvecs(Tf.T @ Tf, m)
        U = torch.matmul(A, R)  # (n, r, m)
        Uf = U.transpose(1, 2).reshape(-1, r)
        L = _top_eigvecs(Uf.T @ Uf, m)
        kept = float((torch.matmul(L.T, U) ** 2).sum())
        err = float(np.sqrt(max(total - kept, 0.0) / total))
        errors.append(err)
        if callback is not None:
            callback(it, err)
        if it > 0 and errors[-2] - err <= tol * max(errors[-2], 1e-30):
            break
    return L.numpy(), R.numpy(), errors


def glra_coefficients(k_dagger: np.ndarray, basis: Basis | tuple) -> np.ndarray:
    """Coefficients ``M = Lᵀ k† R`` of a pseudo-inverse kernel in a basis.

    Parameters
    ----------
    k_dagger : numpy.ndarray
        ``(d, d)`` pseudo-inverse kernel, or a stack ``(n, d, d)``.
    basis : Basis or tuple of (L, R)
        The basis.

    Returns
    -------
    numpy.ndarray
        ``(m, m)`` (or ``(n, m, m)``) coefficient matrix.
    """
    L, R = (basis.L, basis.R) if isinstance(basis, Basis) else basis
    kd = np.asarray(k_dagger, dtype=np.float64)
    if kd.shape[-2:] != (L.shape[0], R.shape[0]):
        raise ValueError(
            f"pseudo-inverse has shape {kd.shape[-2:]}, the basis expects {(L.shape[0], R.shape[0])}"
        )
    return _mm(_mm(np.asarray(L).T, kd), R)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in float64 through torch's thread pool.

    numpy's BLAS threads spin for a while after each product and, on a machine with
    few cores, slow the torch FFTs and convolutions that the engine runs next by up to
    2-3x; torch's own GEMM shares the pool with those.
    """
    ta = torch.from_numpy(np.asarray(a, dtype=np.float64))
    tb = torch.from_numpy(np.asarray(b, dtype=np.float64))
    return (ta @ tb).numpy()


def relative_error(k_dagger: np.ndarray, basis: Basis | tuple) -> float | np.ndarray:
    """Relative Frobenius error ``‖k† - L M Rᵀ‖ / ‖k†‖`` of the representation.

    Parameters
    ----------
    k_dagger : numpy.ndarray
        ``(d, d)`` pseudo-inverse kernel or a stack ``(n, d, d)``.
    basis : Basis or tuple of (L, R)
        The basis.

    Returns
    -------
    float or numpy.ndarray
        The error (one per matrix for a stack).
    """
    L, R = (basis.L, basis.R) if isinstance(basis, Basis) else basis
    kd = np.asarray(k_dagger, dtype=np.float64)
    M = glra_coefficients(kd, (L, R))
    rec = _mm(_mm(L, M), np.asarray(R).T)
    num = np.sqrt(((kd - rec) ** 2).sum(axis=(-2, -1)))
    den = np.sqrt((kd**2).sum(axis=(-2, -1)))
    out = num / np.maximum(den, 1e-30)
    return float(out) if out.ndim == 0 else out


@dataclass
class Basis:
    """A GLRA basis: ``L``, ``R`` (``d × m``, orthonormal columns) and metadata.

    ``metadata`` holds at least ``d``, ``m``, ``reg_scale``, ``reg_power``,
    ``prior``, ``families`` (with parameter ranges), ``noise_levels``,
    ``heldout_error`` (per family) and ``version``.
    """

    L: np.ndarray
    R: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def d(self) -> int:
        """Side of the pseudo-inverse kernels."""
        return int(self.L.shape[0])

    @property
    def m(self) -> int:
        """Rank of the representation."""
        return int(self.L.shape[1])

    def coefficients(self, k_dagger: np.ndarray) -> np.ndarray:
        """``M = Lᵀ k† R`` (see :func:`glra_coefficients`)."""
        return glra_coefficients(k_dagger, self)

    def error(self, k_dagger: np.ndarray) -> float | np.ndarray:
        """Relative representation error (see :func:`relative_error`)."""
        return relative_error(k_dagger, self)

    def reg(self, noise_level: float) -> float:
        """Noise-matched regularisation weight this basis was fitted with."""
        scale = float(self.metadata.get("reg_scale", 0) or 0)
        power = float(self.metadata.get("reg_power", 0) or 0)
        if scale <= 0:
            return noise_reg(noise_level)
        return scale * max(float(noise_level), 1e-4) ** power

    def pseudo_inverse(self, kernel: np.ndarray, noise_level: float, balance: float = 1.0) -> np.ndarray:
        """``k†`` of a kernel with this basis' regularisation (times ``balance``)."""
        return pseudo_inverse(
            kernel,
            size=self.d,
            reg=self.reg(noise_level) * float(balance),
            prior=str(self.metadata.get("prior", "gradient")),
        )

    def balanced_coefficients(
        self, kernel: np.ndarray, noise_level: float, balances: tuple[float, ...] = (1.0,)
    ) -> tuple[np.ndarray, float]:
        """``(S, m, m)`` coefficients, one per regularisation multiplier, and the balance-1 error."""
        Ms, err = [], float("nan")
        for b in balances:
            kd = self.pseudo_inverse(kernel, noise_level, b)
            Ms.append(self.coefficients(kd))
            if b == 1.0:
                err = float(self.error(kd))
        return np.stack(Ms), err

    def kernel_coefficients(self, kernel: np.ndarray, noise_level: float) -> tuple[np.ndarray, float]:
        """``M`` of a blur kernel at a noise level, and the relative representation error."""
        kd = self.pseudo_inverse(kernel, noise_level)
        return self.coefficients(kd), float(self.error(kd))


def save_basis(basis: Basis, path: str | Path) -> Path:
    """Write a basis as safetensors (``L``, ``R``) with JSON metadata.

    Parameters
    ----------
    basis : Basis
        The basis.
    path : str or pathlib.Path
        Target ``.safetensors`` file.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(basis.metadata)
    meta.update(d=basis.d, m=basis.m)
    save_file(
        {"L": np.ascontiguousarray(basis.L, np.float32), "R": np.ascontiguousarray(basis.R, np.float32)},
        str(path),
        metadata={"napari_glra_basis": json.dumps(meta)},
    )
    return path


def load_basis(path: str | Path) -> Basis:
    """Read a basis written by :func:`save_basis` (never unpickles).

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.safetensors`` file.

    Returns
    -------
    Basis
        The basis (float64 arrays).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no basis file at {path}")
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads((f.metadata() or {}).get("napari_glra_basis", "{}"))
        L = f.get_tensor("L").astype(np.float64)
        R = f.get_tensor("R").astype(np.float64)
    if L.shape != R.shape or L.ndim != 2:
        raise ValueError(f"{path}: L {L.shape} and R {R.shape} must both be (d, m)")
    return Basis(L, R, meta)
