"""Section ``grid`` and the PSNR plot: ``figures/grid_<family>.png``, ``figures/psnr_vs_noise.png``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from suite_io import pyplot
from suite_methods import cases, restore_all
from suite_settings import CLASSICAL, LABELS, METHOD_ORDER, SHORT, short_label

from napari_glra.metrics import psnr


def make_grids(prot: dict, P: dict, figures: Path, data: Path) -> dict[str, Any]:
    """One figure per family: a representative image at the lowest and highest noise level, all methods."""
    plt = pyplot()
    from napari_glra.physics.kernels import FAMILIES

    families = list(FAMILIES)
    results = list(csv.DictReader(open(data / "evaluate" / "results.csv")))
    noises = sorted({float(s) for s in P["noise_levels"]})
    shown = [noises[0], noises[-1]] if len(noises) > 1 else noises
    info = {}
    for fam in families:
        # per base method (wiener / rl / tv), the better of its variants (e.g. mirror / valid boundary)
        cell0 = prot["table"][str(shown[0])][fam]
        best_variant: dict[str, str] = {}
        for m in CLASSICAL:
            base = m.split("_")[0]
            if base not in best_variant or cell0[m]["psnr"] > cell0[best_variant[base]]["psnr"]:
                best_variant[base] = m
        methods = ["blurred", *best_variant.values(), "linear", "model", "model_est"]
        # representative image: median gain of the model over the best classical method, lowest noise
        gains = {}
        for i in range(len(prot["images"])):
            cell = {
                r["method"]: float(r["psnr"])
                for r in results
                if r["family"] == fam and float(r["noise"]) == shown[0] and int(r["image"]) == i
            }
            if "model" in cell:
                gains[i] = cell["model"] - max(cell[m] for m in CLASSICAL if m in cell)
        order = sorted(gains, key=gains.get)
        pick = order[len(order) // 2] if order else 0
        fig, axes = plt.subplots(
            len(shown), len(methods) + 1, figsize=(2.1 * (len(methods) + 1), 2.6 * len(shown)), squeeze=False
        )
        for r, noise in enumerate(shown):
            y, xs, k, params = next(
                c[1:] for c in cases(prot["images"], families, fam, noise, P["seed"]) if c[0] == pick
            )
            outs = restore_all(prot["model"], y, k, noise, fam, prot["tuned"], prot["device"], methods[1:])
            h, w = xs.shape
            c = min(128, h, w)
            sl = (slice((h - c) // 2, (h - c) // 2 + c), slice((w - c) // 2, (w - c) // 2 + c))
            panels = [("sharp", xs, None)] + [(m, outs[m], psnr(outs[m], xs)) for m in methods]
            for j, (m, img, p) in enumerate(panels):
                ax = axes[r, j]
                ax.imshow(img[sl], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                title = (
                    "sharp"
                    if m == "sharp"
                    else short_label(m)
                    if m in CLASSICAL
                    else LABELS[m].replace(" (tuned)", "").replace(", noise", "\nnoise")
                )
                ax.set_title(title if p is None else f"{title}\n{p:.2f} dB", fontsize=7)
                ax.set_xticks([])
                ax.set_yticks([])
                if m == "blurred":
                    kk = k / k.max()
                    ins = ax.inset_axes([0.66, 0.66, 0.33, 0.33])
                    ins.imshow(kk, cmap="magma", interpolation="nearest")
                    ins.set_xticks([])
                    ins.set_yticks([])
            axes[r, 0].set_ylabel(f"noise {100 * noise:g} %", fontsize=8)
            info.setdefault(fam, {"image": pick, "file": prot["where"][pick]["file"], "kernel": {}})
            info[fam]["kernel"][str(noise)] = {
                k2: (round(v, 3) if isinstance(v, float) else v) for k2, v in params.items()
            }
        fig.suptitle(
            f"{fam} blur: central {c}x{c} crop of the valid region, grey range [0, 1] for every panel; "
            "PSNR on the whole valid region",
            fontsize=8,
        )
        fig.tight_layout()
        fig.savefig(figures / f"grid_{fam}.png", dpi=110)
        plt.close(fig)
    return info


def plot_psnr_vs_noise(table: dict, figures: Path) -> None:
    plt = pyplot()
    noises = sorted(table, key=float)
    fams = list(table[noises[0]])
    fig, axes = plt.subplots(1, len(fams), figsize=(4.2 * len(fams), 4.2), sharey=False, squeeze=False)
    styles = {
        "model": ("C3", "o-", 2.2),
        "model_est": ("C3", "o--", 1.2),
        "linear": ("C1", "s-", 1.2),
        "wiener": ("C0", "^", 1.2),
        "rl": ("C2", "v", 1.2),
        "tv": ("C4", "D", 1.2),
        "uwiener": ("C5", "x-", 1.0),
        "ablation": ("C7", "P-", 1.0),
        "blurred": ("0.5", ".:", 1.0),
    }
    for ax, fam in zip(axes[0], fams):
        for m in METHOD_ORDER:
            if m not in table[noises[0]][fam]:
                continue
            base = m.split("_")[0]
            col, st, lw = styles.get(m) or styles.get(base) or ("C8", "x", 1.0)
            if base in SHORT:  # classical: solid for the first variant, dashed for the others
                st += "-" if m == base else "--"
            ax.plot(
                [100 * float(s) for s in noises],
                [table[s][fam][m]["psnr"] for s in noises],
                st,
                color=col,
                lw=lw,
                ms=4,
                label=LABELS[m],
            )
        ax.set_title(fam)
        ax.set_xlabel("noise level (% of range)")
        ax.set_xticks([100 * float(s) for s in noises])
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("mean PSNR (dB)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.savefig(figures / "psnr_vs_noise.png", dpi=110)
    plt.close(fig)
