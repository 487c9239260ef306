"""Settings of the benchmark suite (``run_benchmarks.py``): run sizes, methods, their labels.

``CLASSICAL``, ``METHOD_ORDER`` and ``LABELS`` are set at run time by :func:`use_classical` (in
place, so every module that imported them sees the protocol's methods).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
SECTIONS = ("protocol", "grid", "basis", "scaling")

#: Full run: the evaluation protocol of the shipped model card (``glra-train evaluate`` with
#: images=16; the rest are glra_trainer.evaluate.DEFAULTS), at 1, 2 and 3 % noise: the 1 % and 3 %
#: cells reproduce the card's table for the same model and code.
FULL: dict[str, Any] = {
    "images": 16,
    "skip_images": 12,
    "crop": 192,
    "tune_images": 6,
    "noise_levels": [0.01, 0.02, 0.03],
    "seed": 2024,
    "classical": None,  # None: the methods of glra_trainer.evaluate.DEFAULTS
    "ood_images": 8,
    "basis_d": 151,
    "basis_ranks": [5, 10, 20, 30, 50],
    "basis_kernels": 150,
    "basis_heldout": 40,
    "basis_noise": [0.01, 0.03],
    "basis_iters": 8,
    "scaling_sizes": [512, 1024, 2048],
    "scaling_repeats": 3,
    "scaling_also_models": ["fast"],  # shipped models also timed (when present)
}
#: ``--quick``: the same protocol on fewer and smaller crops, fewer basis kernels, two image sizes.
QUICK: dict[str, Any] = {
    **FULL,
    "images": 6,
    "crop": 128,
    "tune_images": 2,
    "ood_images": 3,
    "basis_kernels": 30,
    "basis_heldout": 10,
    "basis_iters": 5,
    "scaling_sizes": [512, 1024],
    "scaling_repeats": 2,
}

#: Classical methods of the protocol; set at run time from glra_trainer.evaluate (``use_classical``).
CLASSICAL: list[str] = ["wiener", "rl", "tv"]
METHOD_ORDER: list[str] = []
LABELS = {
    "blurred": "blurred input",
    "wiener": "Wiener (tuned)",
    "rl": "Richardson-Lucy (tuned)",
    "tv": "TV / HQS (tuned)",
    "uwiener": "unsupervised Wiener-Hunt (skimage)",
    "linear": "GLRA linear block",
    "ablation": "network, random init (ablation)",
    "model": "napari-glra",
    "model_est": "napari-glra, noise estimated",
}
SHORT = {"wiener": "Wiener", "rl": "RL", "tv": "TV"}


def use_classical(methods: list[str]) -> None:
    """Set the classical methods (in place) and the table order; labels from the evaluation's."""
    try:
        from glra_trainer.evaluate import LABELS as EVAL_LABELS
    except ImportError:  # pragma: no cover
        EVAL_LABELS = {}
    CLASSICAL[:] = methods
    METHOD_ORDER[:] = ["blurred", *methods, "uwiener", "linear", "ablation", "model", "model_est"]
    for m in methods:
        LABELS.setdefault(m, EVAL_LABELS.get(m, m))


def short_label(m: str) -> str:
    """Short name of a classical method: ``"RL (valid)"`` for ``rl_valid``."""
    base, _, variant = m.partition("_")
    return SHORT.get(base, base) + (f" ({variant})" if variant else "")


use_classical(CLASSICAL.copy())
#: Parameters drawn beyond the training ranges (kernels.KERNEL_RANGES) for the out-of-range test.
OOD_RANGES = {
    "gaussian": ("sigma", 5.0, 6.0),
    "disk": ("radius", 14.0, 17.0),
    "motion": ("length", 31.0, 41.0),
}
#: Three kernels shown in the basis figure.
SHOWCASE = [("gaussian", {"sigma": 2.5}), ("disk", {"radius": 7.0}), ("motion", {"length": 21.0, "seed": 3})]
