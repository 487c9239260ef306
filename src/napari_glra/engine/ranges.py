"""What a model was trained for, and a warning when an input lies outside it.

A network restores well what it has seen.  Far outside its training noise the
`default` model draws invented edges and the `microscopy` model paints smooth
"watercolour" patches, with nothing in the output to say so.  The engine therefore
compares the noise level it uses with the model's training range (recorded in its
``config.json`` by ``glra-train export``) and warns, once, with the numbers and the
shipped model that covers the level, if any.
"""

from __future__ import annotations

import math

from napari_glra.engine.registry import available_models, load_model
from napari_glra.glra.model_io import ModelFiles

__all__ = ["OutsideTrainingWarning", "noise_range", "noise_warning"]

#: Mean signal (on the [0, 1] scale) at which the noise of a Poisson-Gaussian model is
#: evaluated: the image-wide RMS noise of a fluorescence image is about that of this level.
_TYPICAL_LEVEL = 0.25
#: Slack around the range before warning (estimates vary by ~10-30 %).
_SLACK = 1.3


class OutsideTrainingWarning(UserWarning):
    """The input lies outside what the model was trained on (results may be unreliable)."""


def noise_range(model: ModelFiles) -> tuple[float, float] | None:
    """The model's training noise range on the [0, 1] scale (standard deviation), if recorded.

    Gaussian-noise models record it directly (``training.noise_range``); for a
    Poisson-Gaussian model the upper end is the shot noise at the lowest peak photon count
    (``training.peak_range``) for a mean level of 0.25, which is about the image-wide RMS
    noise the engine estimates.
    """
    t = model.config.get("training")
    if not isinstance(t, dict):
        return None
    rng = t.get("noise_range")
    if not (isinstance(rng, (list, tuple)) and len(rng) == 2):
        return None
    lo, hi = float(rng[0]), float(rng[1])
    peaks = t.get("peak_range")
    if t.get("noise_model") == "poisson_gaussian" and isinstance(peaks, (list, tuple)) and peaks:
        hi = max(hi, math.sqrt(_TYPICAL_LEVEL / float(min(peaks))))
    return lo, hi


def _families(model: ModelFiles) -> str:
    t = model.config.get("training")
    fams = t.get("families") if isinstance(t, dict) else None
    return "/".join(fams) if fams else "Gaussian/disk/motion"


def noise_warning(model: ModelFiles, noise_level: float) -> str | None:
    """The warning text when ``noise_level`` is outside the model's range (None inside it).

    Only then are the other shipped models loaded, to suggest one whose range covers the level.
    """
    rng = noise_range(model)
    if rng is None:
        return None
    lo, hi = rng
    if lo / _SLACK <= noise_level <= hi * _SLACK:
        return None
    side = "above" if noise_level > hi else "below"
    others = {name: load_model(name) for name in available_models() if name != model.name}
    covering = [
        name
        for name, other in others.items()
        if (r := noise_range(other)) is not None and r[0] / _SLACK <= noise_level <= r[1] * _SLACK
    ]
    advice = (
        f"model {covering[0]!r} (trained on {_families(others[covering[0]])} kernels) covers it"
        if covering
        else "no shipped model was trained for it: results may show invented or painted structures"
        + ("; averaging frames or binning pixels lowers the noise" if side == "above" else "")
    )
    return (
        f"the noise level ({100 * noise_level:.2g} % of the intensity range) is {side} the range model "
        f"{model.name!r} was trained on ({100 * lo:.2g}-{100 * hi:.2g} %); {advice}"
    )
