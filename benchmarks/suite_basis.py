"""Section ``basis``: held-out error of GLRA bases vs rank, the model's basis vectors and ``M``.

Writes ``data/basis_rank.csv``, ``figures/basis_rank.png``, ``figures/basis_vectors.png`` and
``figures/basis_M.png``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from suite_io import log, pyplot, write_csv
from suite_settings import SHOWCASE


def run_basis(args, P: dict, model, figures: Path, data: Path) -> dict[str, Any]:
    from glra_trainer.basis import kernel_stack
    from napari_glra.glra.basis import fit_glram, relative_error
    from napari_glra.physics.kernels import FAMILIES

    t0 = time.time()
    fams = list(FAMILIES)
    d = P["basis_d"]
    rng = np.random.default_rng(P["seed"] + 7)
    log(
        f"[basis] pseudo-inverses (d={d}): {P['basis_kernels']} + {P['basis_heldout']} kernels per family "
        f"x noise {P['basis_noise']}"
    )
    train = kernel_stack(fams, P["basis_kernels"], P["basis_noise"], d, rng)
    held = kernel_stack(fams, P["basis_heldout"], P["basis_noise"], d, rng)
    stack = np.concatenate(list(train.values()))
    rows = []
    for m in P["basis_ranks"]:
        if m > d:
            continue
        L, R, _ = fit_glram(stack, m, P["basis_iters"])
        for fam in fams:
            e = relative_error(held[fam], (L, R))
            rows.append(
                {
                    "m": m,
                    "family": fam,
                    "heldout_rms_error": float(np.sqrt(np.mean(e**2))),
                    "heldout_max_error": float(np.max(e)),
                }
            )
        log(
            f"  m={m}: " + ", ".join(f"{r['family']} {100 * r['heldout_rms_error']:.2f} %" for r in rows[-3:])
        )
    shipped = {}
    if model.basis.d == d:
        for fam in fams:
            e = relative_error(held[fam], model.basis)
            shipped[fam] = float(np.sqrt(np.mean(e**2)))
    write_csv(data / "basis_rank.csv", rows)
    _rank_figure(rows, shipped, fams, model.basis.m, P, figures)
    _vectors_figure(model, figures)
    examples = _coefficients_figure(model, figures)
    L = model.basis.L
    meta = model.basis.metadata or {}
    return {
        "rows": rows,
        "shipped": shipped,
        "examples": examples,
        "d": d,
        "seconds": time.time() - t0,
        "model_basis": {
            "d": L.shape[0],
            "m": int(L.shape[1]),
            "heldout_error": meta.get("heldout_error"),
            "kernels_per_family": meta.get("kernels_per_family"),
            "noise_levels": meta.get("noise_levels"),
        },
    }


def _rank_figure(
    rows: list[dict], shipped: dict, fams: list[str], model_m: int, P: dict, figures: Path
) -> None:
    """``basis_rank.png``: held-out error vs rank per family (stars: the model's basis)."""
    plt = pyplot()
    d = P["basis_d"]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for j, fam in enumerate(fams):
        sel = [r for r in rows if r["family"] == fam]
        ax.semilogy(
            [r["m"] for r in sel], [100 * r["heldout_rms_error"] for r in sel], "o-", color=f"C{j}", label=fam
        )
        if fam in shipped:
            ax.semilogy([model_m], [100 * shipped[fam]], "*", ms=12, color=f"C{j}", mec="k")
    ax.axhline(7, color="r", ls=":", lw=1, label="7 % target")
    ax.set_xlabel("rank m")
    ax.set_ylabel("held-out relative error (%)")
    ax.set_title(
        f"GLRA basis, d={d}: {P['basis_kernels']} kernels/family"
        + (" (* = model's basis)" if shipped else ""),
        fontsize=9,
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figures / "basis_rank.png", dpi=110)
    plt.close(fig)


def _central(dd: int) -> tuple[int, slice]:
    """Half-width and slice of the central part (at most 61 px) of a ``dd``-pixel axis."""
    half = min(dd // 2, 30)
    c = dd // 2
    return half, slice(c - half, c + half + 1)


def _vectors_figure(model, figures: Path) -> None:
    """``basis_vectors.png``: a few columns of L and R and the separable filters l_i r_i^T."""
    plt = pyplot()
    L, R = model.basis.L, model.basis.R
    dd = L.shape[0]
    n = min(6, L.shape[1])
    half, zoom = _central(dd)
    c = dd // 2
    fig, axes = plt.subplots(3, n, figsize=(1.9 * n, 5.6), squeeze=False)
    x = np.arange(dd) - c
    for i in range(n):
        axes[0, i].plot(x, L[:, i], lw=1)
        axes[0, i].set_title(f"L column {i + 1}", fontsize=8)
        axes[1, i].plot(x, R[:, i], lw=1, color="C1")
        axes[1, i].set_title(f"R column {i + 1}", fontsize=8)
        for a in axes[:2, i]:
            a.set_xlim(-half, half)
            a.tick_params(labelsize=6)
        outer = np.outer(L[:, i], R[:, i])[zoom, zoom]
        v = np.abs(outer).max()
        axes[2, i].imshow(outer, cmap="RdBu_r", vmin=-v, vmax=v)
        axes[2, i].set_title(f"l{i + 1} r{i + 1}ᵀ", fontsize=8)
        axes[2, i].set_xticks([])
        axes[2, i].set_yticks([])
    fig.suptitle(
        f"basis of model '{model.name}' (d={dd}, m={L.shape[1]}), central {2 * half + 1} px", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(figures / "basis_vectors.png", dpi=110)
    plt.close(fig)


def _coefficients_figure(model, figures: Path) -> list[dict]:
    """``basis_M.png``: per showcase kernel the kernel, k†, M, L M Rᵀ and its error; their errors."""
    plt = pyplot()
    from napari_glra.physics.kernels import make_kernel

    L, R = model.basis.L, model.basis.R
    half, zoom = _central(L.shape[0])
    fig, axes = plt.subplots(3, 5, figsize=(11, 6.8))
    examples = []
    for r, (fam, params) in enumerate(SHOWCASE):
        k = make_kernel(fam, **params)
        kd = model.basis.pseudo_inverse(k, 0.01)
        M, err = model.basis.kernel_coefficients(k, 0.01)
        rec = L @ M @ R.T
        examples.append({"family": fam, **params, "relative_error": float(err)})
        v = np.abs(kd[zoom, zoom]).max()
        nm = min(20, M.shape[0])  # the leading block holds most of the energy
        mv = np.abs(M).max()
        mtitle = (
            f"M ({M.shape[0]}x{M.shape[1]})" if nm == M.shape[0] else f"M, top-left {nm}x{nm} of {M.shape[0]}"
        )
        panels = [
            (k, "magma", None, f"{fam} kernel ({k.shape[0]} px)"),
            (kd[zoom, zoom], "RdBu_r", v, "pseudo-inverse k†"),
            (M[:nm, :nm], "RdBu_r", mv, mtitle),
            (rec[zoom, zoom], "RdBu_r", v, "L M Rᵀ"),
            (10 * (kd - rec)[zoom, zoom], "RdBu_r", v, f"(k† − L M Rᵀ) × 10, rel. error {100 * err:.1f} %"),
        ]
        for j, (img, cmap, vm, title) in enumerate(panels):
            ax = axes[r, j]
            ax.imshow(img, cmap=cmap, vmin=None if vm is None else -vm, vmax=vm, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(
        "GLRA coefficients of three kernels at 1 % noise (k† and reconstructions: central "
        f"{2 * half + 1} px, same colour scale per row)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(figures / "basis_M.png", dpi=110)
    plt.close(fig)
    return examples
