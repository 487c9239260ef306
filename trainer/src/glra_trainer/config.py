"""Typed configuration of ``glra-train``: one pydantic model per subcommand.

A config file (``--config``) is TOML with one table per subcommand: ``[basis]``,
``[fit]`` (with its ``[fit.network]`` table), ``[evaluate]`` and ``[export]``; the
files in ``trainer/configs/`` are the record of the shipped models.  A file without
any of these tables is read as the section of whichever subcommand runs.

The command line resolves a section as the model's defaults, then the file's table,
then ``--smoke``, then ``--set key=value`` (see :mod:`glra_trainer.cli`), and
validates the result once with the section's model: an unknown key, a value of the
wrong type or one out of its range stops the command before anything runs, with a
message that names the key (``unknown key 'fit.stpes' (did you mean 'steps'?)``).

The subcommands take a validated model (or a mapping, validated on the way in) and
read it by attribute (``cfg.steps``).  The models are frozen: a subcommand reads its
config, it never changes it.  ``model_dump()`` gives the plain dict that runs record
(``run_config.json``, checkpoints, ``--print-config``).
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import tomllib
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from napari_glra.physics.kernels import FAMILIES, KERNEL_RANGES

__all__ = [
    "ConfigError",
    "Section",
    "BasisConfig",
    "NetworkConfig",
    "FitConfig",
    "EvaluateConfig",
    "ExportConfig",
    "SECTIONS",
    "read_config_file",
    "file_section",
]

S = TypeVar("S", bound="Section")


class ConfigError(ValueError):
    """A config the trainer cannot use; the message names every offending key."""


# --------------------------------------------------------------------------- checks


def _odd(value: int) -> int:
    if value % 2 == 0:
        raise ValueError("must be odd")
    return value


def _known_families(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("needs at least one kernel family")
    unknown = [f for f in value if f not in KERNEL_RANGES]
    if unknown:
        raise ValueError(f"unknown kernel families {unknown}; choose from {list(KERNEL_RANGES)}")
    return value


def _positive_list(value: list[float]) -> list[float]:
    if not value or any(v <= 0 for v in value):
        raise ValueError("must be a non-empty list of positive numbers")
    return value


def _range(value: list[float]) -> list[float]:
    if len(value) != 2 or not 0 < value[0] <= value[1]:
        raise ValueError("must be [low, high] with 0 < low <= high")
    return value


def _interval(value: list[float]) -> list[float]:
    if len(value) != 2 or not value[0] <= value[1]:
        raise ValueError("must be [low, high] with low <= high")
    return value


#: An odd integer (a kernel or filter side).
OddInt = Annotated[int, AfterValidator(_odd)]
#: Kernel families: keys of ``napari_glra.physics.kernels.KERNEL_RANGES``, at least one.
Families = Annotated[list[str], AfterValidator(_known_families)]
#: A non-empty list of positive numbers.
PositiveList = Annotated[list[float], AfterValidator(_positive_list)]
#: ``[low, high]`` with ``0 < low <= high``.
Range = Annotated[list[float], AfterValidator(_range)]
#: ``[low, high]`` with ``low <= high`` (any sign).
Interval = Annotated[list[float], AfterValidator(_interval)]


# --------------------------------------------------------------------------- base


class Section(BaseModel):
    """Base of the section models: unknown keys are errors and types are checked strictly.

    Strict types: a TOML value already has its type, so ``steps = "5"`` or
    ``random_init = 1`` are mistakes, not something to convert (an integer is still
    accepted where a float is expected).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    #: Name of the section: its TOML table and the prefix of the keys in error messages.
    section: ClassVar[str] = ""
    #: Why a key that is not a field of the section is refused, where a bare "unknown key" would puzzle.
    refused: ClassVar[dict[str, str]] = {}

    @classmethod
    def load(cls: type[S], data: Mapping[str, Any] | S | None = None) -> S:
        """Validate a mapping (missing keys take their defaults); a validated config passes as it is.

        Parameters
        ----------
        data : mapping or Section or None
            The section's keys and values (``None``: every default).

        Returns
        -------
        Section
            The validated config.

        Raises
        ------
        ConfigError
            With one line per unknown key, wrong type or value out of range, each naming its key
            (``fit.network.width``).
        """
        if isinstance(data, cls):
            return data
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as err:
            raise ConfigError(explain(err, cls)) from None


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The (nested) model that holds the key at ``loc`` (the path of its parent)."""
    for name in loc:
        field = model.model_fields.get(str(name))
        annotation = field.annotation if field is not None else None
        # A nested section may be optional (``RefinerConfig | None``).
        options = [annotation, *typing.get_args(annotation)]
        found = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
        if not found:
            return None
        model = found[0]
    return model


def explain(err: ValidationError, model: type[Section]) -> str:
    """One line per error of ``err``, each naming its key as ``section.key[.subkey]``.

    Parameters
    ----------
    err : pydantic.ValidationError
        The error of validating a section.
    model : type of Section
        The section's model.

    Returns
    -------
    str
        ``unknown key 'fit.stpes' (did you mean 'steps'?)``, ``fit.steps: input should be a
        valid integer, got 'abc'`` and the like, one per line.
    """
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = model.section
        for part in loc:
            key += f"[{part}]" if isinstance(part, int) else f".{part}"
        if e["type"] == "extra_forbidden":
            name = str(loc[-1])
            parent = _model_at(model, loc[:-1])
            note = ""
            if parent is not None:
                refused = getattr(parent, "refused", {})
                close = difflib.get_close_matches(name, list(parent.model_fields), n=1)
                if name in refused:
                    note = f" ({refused[name]})"
                elif close:
                    note = f" (did you mean '{close[0]}'?)"
            lines.append(f"unknown key '{key}'{note}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = f", got {e['input']!r}" if loc else ""
            lines.append(f"{key}: {msg[:1].lower() + msg[1:]}{got}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- basis


class BasisConfig(Section):
    """``[basis]``: sample kernels, compute their pseudo-inverses and fit the GLRA basis (L, R)."""

    section: ClassVar[str] = "basis"

    d: OddInt = Field(151, ge=3)
    """Side of the pseudo-inverses (odd)."""
    m: int = Field(50, ge=1)
    """Rank of the basis (number of columns of L and R)."""
    kernels_per_family: int = Field(600, ge=1)
    """Random kernels per family the basis is fitted on."""
    heldout_per_family: int = Field(60, ge=1)
    """Further kernels per family for the held-out representation error."""
    noise_levels: PositiveList = [0.005, 0.01, 0.02, 0.03]
    """Noise levels of the pseudo-inverses (one per kernel and level)."""
    families: Families = list(FAMILIES)
    """Kernel families (keys of ``napari_glra.physics.kernels.KERNEL_RANGES``)."""
    iters: int = Field(8, ge=1)
    """GLRAM alternations."""
    target_error: float | None = Field(0.07, ge=0)
    """Held-out relative error each family should stay under (reported; 0 or None: not reported)."""
    seed: int = Field(0, ge=0)
    """Seed of the kernel draws."""
    out: str = "trainer/runs/default/basis.safetensors"
    """Basis file to write."""

    @model_validator(mode="after")
    def _rank_fits(self) -> BasisConfig:
        if self.m > self.d:
            raise ValueError(f"m ({self.m}) must not exceed d ({self.d})")
        return self


# --------------------------------------------------------------------------- fit


class SetKeysSection(Section):
    """A section whose ``model_dump()`` holds only the keys set (``None``: the core's default)."""

    @model_serializer(mode="wrap")
    def _set_keys_only(self, handler: Any) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class BlockConfig(SetKeysSection):
    """The keys of an artifact block, shared by ``[fit.network]`` and its ``refiner`` table.

    A key left out (``None``) takes ``NetConfig``'s default.
    """

    width: int | None = Field(None, ge=1)
    """Channels of the artifact block."""
    first_kernel: OddInt | None = Field(None, ge=1)
    """Side of the first convolution (odd)."""
    depth: int | None = Field(None, ge=0)
    """Middle convolutions (per level and stage of a U-Net block)."""
    mid_kernel: OddInt | None = Field(None, ge=1)
    """Side of the middle convolutions (odd)."""
    last_kernel: OddInt | None = Field(None, ge=1)
    """Side of the last convolution (odd)."""
    negative_slope: float | None = Field(None, ge=0)
    """LeakyReLU slope."""
    scale: int | None = Field(None, ge=1)
    """Resolution factor of the artifact block (2: half resolution, pixel-unshuffled)."""
    dilations: list[int] | None = None
    """Dilation of each middle convolution (flat block; ``depth`` integers; None: all 1)."""
    levels: int | None = Field(None, ge=0)
    """Levels of a multi-scale (U-Net) artifact block (0: flat; ``depth`` convolutions per level)."""


class RefinerConfig(BlockConfig):
    """``[fit.network.refiner]``: a second artifact block after the first (``NetConfig.refiner``).

    It reads the first block's restored image beside the same features and adds its correction
    to that image.  Its keys are those of an artifact block.
    """

    section: ClassVar[str] = "fit.network.refiner"


class NetworkConfig(BlockConfig):
    """``[fit.network]``: the architecture, as :class:`napari_glra.glra.network.NetConfig` takes it.

    A key left out (``None``) takes ``NetConfig``'s default, and ``model_dump()`` leaves it
    out as well, so a run records the keys its config set.  ``d`` and ``m`` are not
    set here: they are the basis file's.
    """

    section: ClassVar[str] = "fit.network"
    refused: ClassVar[dict[str, str]] = {
        "d": "d and m are the basis file's",
        "m": "d and m are the basis file's",
    }

    residual: bool | None = None
    """Add the balance-1 linear estimate to the output."""
    balances: list[float] | None = None
    """Regularisation multipliers of the linear estimates fed to the artifact block (must hold 1.0)."""
    mix: int | None = Field(None, ge=0)
    """Learned 1x1 mixes of the deconvolution channels (None: width - len(balances))."""
    border_channel: bool | None = None
    """One more input channel marking the observed pixels."""
    feature_maps: int | None = Field(None, ge=0)
    """Learned feature maps of the blurred image deconvolved like it and fed to the artifact block
    (deconvolution in feature space; 0: none).  With ``init_from`` they may be added to a model
    without them: their weights in the block start at zero (the same function; see
    ``init_grow_scale``)."""
    feature_kernel: OddInt | None = Field(None, ge=1)
    """Side (odd) of the two convolutions that make the feature maps."""
    refiner: RefinerConfig | None = None
    """A second artifact block that corrects the first one's image ([fit.network.refiner]).  With
    ``init_from`` it may be added to a model without one: the source's weights fill the first
    block and the refiner starts fresh (its last layer near zero: about the source's function)."""

    @field_validator("balances")
    @classmethod
    def _has_base(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (1.0 not in value or any(b <= 0 for b in value)):
            raise ValueError("must be positive numbers including 1.0 (the residual base)")
        return value


class FitConfig(Section):
    """``[fit]``: train a GLRANet on the fly-degraded patches (see :mod:`glra_trainer.fit`)."""

    section: ClassVar[str] = "fit"

    basis: str = "trainer/runs/default/basis.safetensors"
    """Basis file (``glra-train basis``)."""
    out: str = "trainer/runs/default"
    """Run directory: checkpoint.pt, log.csv, curves.png, run_config.json."""
    train_dir: str | None = "../shared/data/bsds500/train"
    """Training images (empty, None or missing: dead leaves)."""
    val_dir: str | None = "../shared/data/bsds500/test"
    """Validation images (empty, None or missing: dead leaves)."""
    max_train_images: int | None = Field(None, ge=1)
    """Use the first images of train_dir only (None: all)."""
    val_images: int = Field(12, ge=1)
    """Validation images (the first of val_dir)."""
    val_per_family: int = Field(8, ge=1)
    """Validation samples per kernel family."""
    val_noise: float = Field(0.01, ge=0)
    """Noise std of the validation samples ("gaussian" noise model)."""
    crop: int = Field(128, ge=1)
    """Side of the training patches (output pixels)."""
    batch: int = Field(8, ge=1)
    """Patches per batch."""
    steps: int = Field(6000, ge=1)
    """Optimiser steps."""
    lr: float = Field(1e-3, gt=0)
    """Peak learning rate (after a 100-step warm-up)."""
    lr_min: float = Field(2e-5, ge=0)
    """Learning rate at the end of the cosine decay."""
    basis_lr_scale: float = Field(0.05, ge=0)
    """Learning-rate factor of the basis filters L, R."""
    noise_min: float = Field(0.005, gt=0)
    """Smallest noise std of the training samples (log-uniform; "gaussian")."""
    noise_max: float = Field(0.03, gt=0)
    """Largest noise std of the training samples."""
    p_saturation: float = Field(0.7, ge=0, le=1)
    """Probability of x1.2 saturation with clipping."""
    context: int = Field(0, ge=0)
    """Pixels of observed blurred context around each patch, per side."""
    kmax: OddInt = Field(45, ge=1)
    """Every kernel is zero-padded to this odd size (larger draws are redrawn)."""
    families: Families | None = None
    """Kernel families; None: those of the basis (its metadata), else FAMILIES."""
    family_weights: list[float] | None = None
    """Relative frequency of each family in training batches (None: uniform)."""
    source: Literal["folder", "fluorescence", "mixed"] = "folder"
    """Image source: "folder" (train_dir images, dead leaves without), "fluorescence"
    (napari_glra.physics.synthetic), "mixed" (folder with probability p_natural, else fluorescence)."""
    p_natural: float = Field(0.5, ge=0, le=1)
    """Probability of a folder image with source "mixed"."""
    fluorescence: dict[str, Any] = {}
    """Keyword arguments of napari_glra.physics.synthetic.fluorescence_image."""
    gain_range: Range = [1.0, 1.0]
    """Log-uniform gain of fluorescence patches (see data.Degrader)."""
    p_brightness: float = Field(0.0, ge=0, le=1)
    """Probability of a random brightness and offset of a folder patch (x -> g x + b, see data.Degrader)."""
    brightness_range: Range = [1.0, 1.0]
    """Log-uniform gain g of the brightness augmentation."""
    offset_range: Interval = [0.0, 0.0]
    """Uniform offset b of the brightness augmentation (on the [0, 1] scale)."""
    kernel_ranges: dict[str, dict[str, Interval]] = {}
    """Per trained family, parameter ranges that replace its ``KERNEL_RANGES`` entry in the
    training draws (validation keeps the standard ones), e.g. ``{gaussian = {sigma = [1.2, 9.0]}}``;
    kernels beyond ``kmax`` are drawn again."""
    noise_model: Literal["gaussian", "poisson_gaussian"] = "gaussian"
    """Noise: "gaussian" (noise_min-noise_max) or "poisson_gaussian" (peak photons at intensity 1 and
    read noise in photons, both log-uniform); the network gets the effective std."""
    peak_range: Range = [100.0, 3000.0]
    """Peak photons at intensity 1 ("poisson_gaussian")."""
    read_range: Range = [0.5, 5.0]
    """Read noise in photons ("poisson_gaussian")."""
    val_source: Literal["folder", "fluorescence", "mixed"] | None = None
    """Validation images; None: the training source ("fluorescence" for "mixed")."""
    val_peak: float = Field(300.0, gt=0)
    """Validation peak photons ("poisson_gaussian")."""
    val_read: float = Field(2.0, ge=0)
    """Validation read noise in photons ("poisson_gaussian")."""
    checkpoint_every: int = Field(250, ge=1)
    """Steps between checkpoints (and one at the end)."""
    val_every: int = Field(500, ge=1)
    """Steps between validations (and one at the end)."""
    max_minutes: float | None = Field(None, ge=0)
    """Time budget: the cosine schedule ends with it (0 or None: steps only)."""
    seed: int = Field(0, ge=0)
    """Seed of the network's initialisation and of the training batches."""
    threads: int | None = Field(None, ge=0)
    """torch threads (0 or None: torch's default)."""
    device: str = "auto"
    """auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps."""
    random_init: bool = False
    """Start the basis filters L, R at random instead of the basis file's."""
    init_from: str | None = None
    """Start from a trained model (an exported model directory or a run's checkpoint.pt) with the same
    network config: every weight is copied except the basis filters L, R (taken from this run's basis)
    and the 1x1 mix, which is carried over to the new basis."""
    init_keep_basis: bool = False
    """With init_from: also copy its trained basis filters L, R (same d, m) instead of this run's basis
    file, so training continues from exactly the source model's function."""
    init_linear_only: bool = False
    """With init_from: copy only its deconvolution block (L, R and the 1x1 mix; same d, m, balances and
    mix count); the artifact block starts afresh, so it may differ (another width, depth or scale)."""
    freeze: list[str] = []
    """Parameters not trained: names or name prefixes of the network's parameters (``"L"``, ``"R"``,
    ``"mix"``, ``"lift"``, ``"body"`` the first artifact block, ``"refine"`` the refiner), e.g.
    ``["L", "R", "mix", "body"]`` to train a refiner on a fixed trained model (its forward pass then
    runs without autograd: about 3x cheaper)."""
    init_grow_scale: float = Field(0.0, ge=0)
    """With init_from and inputs added to the artifact block (network.feature_maps, border_channel):
    their weights in the block's first convolution start at this fraction of a fresh initialisation
    (0: zero, exactly the source's function; zero weights on fresh feature maps barely train, a
    saddle: trainer/runs/default_featmaps/README.md)."""
    p_border: float = Field(0.0, ge=0, le=1)
    """Probability that a training sample sits at an image border (data.Degrader.cut_border); the loss
    then counts observed pixels only.  Use with network.border_channel = true."""
    pixel_loss: Literal["l1", "l2"] = "l1"
    """The pixel loss: "l1" (mean absolute error) or "l2" (mean squared error: its minimiser is the
    posterior mean, which keeps weak detail at part of its amplitude where the L1 loss's median
    rounds it to zero; what a ring-SNR resolution rewards)."""
    fft_loss: float = Field(0.0, ge=0)
    """Weight of an L1 loss on the orthonormal 2D Fourier transform of the error, added to the pixel
    L1 loss (0: pixel L1 only).  It pushes every frequency's error alike, where the pixel loss trades
    the weak fine detail for smoothness: the lever for the ring-SNR resolution at low light."""
    fft_weight: Literal["flat", "relative"] = "flat"
    """Weighting of the ``fft_loss`` term over frequencies: "flat" (every frequency alike) or "relative"
    (each frequency's error divided by the targets' amplitude in its ring, so fine detail, weak in
    absolute terms, counts as much as coarse: the error relative to the signal that a ring-SNR
    resolution measures)."""
    amp: Literal["bfloat16"] | None = None
    """Autocast dtype of the artifact block during training: None (float32) or "bfloat16" (about 2.5x
    faster on CPUs with native bf16; what the engine runs there by default)."""
    workers: int = Field(0, ge=0)
    """Processes that make the training batches (see glra_trainer.loader): 0 draws them in this process
    from one sequential generator; >= 1 draws batch s from rng(seed, s)."""
    echo: int = Field(1, ge=1)
    """Data echoing (Choi et al. 2019): each batch is used for this many consecutive optimiser steps;
    for runs bound by making the batches (a GPU fed by a few CPU workers)."""
    data_on_device: bool = False
    """Blur, saturate, add the noise and compute M of the training batches as torch operations on the
    training device (glra_trainer.device_data) instead of in numpy on CPU cores, which then only draw the
    patches and kernels (this process with workers = 0, else the workers).  Another random stream than
    the numpy path's: batch s depends on the seed, s and the device type."""
    network: NetworkConfig = NetworkConfig()
    """The architecture ([fit.network])."""

    @field_validator("family_weights")
    @classmethod
    def _weights(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (any(w < 0 for w in value) or not sum(value) > 0):
            raise ValueError("must be non-negative numbers with a positive sum")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> FitConfig:
        if self.noise_min > self.noise_max:
            raise ValueError(f"noise_min ({self.noise_min}) must not exceed noise_max ({self.noise_max})")
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min ({self.lr_min}) must not exceed lr ({self.lr})")
        for fam, ranges in self.kernel_ranges.items():
            trained = self.families or list(KERNEL_RANGES)
            if fam not in trained:
                raise ValueError(f"kernel_ranges: family {fam!r} is not trained (families {trained})")
            if sorted(ranges) != sorted(KERNEL_RANGES[fam]):
                raise ValueError(
                    f"kernel_ranges.{fam}: give {sorted(KERNEL_RANGES[fam])}, got {sorted(ranges)}"
                )
        return self


# --------------------------------------------------------------------------- evaluate


class EvaluateConfig(Section):
    """``[evaluate]``: PSNR/SSIM of a model and tuned classical methods (see :mod:`glra_trainer.evaluate`)."""

    section: ClassVar[str] = "evaluate"

    model: str = "trainer/runs/default/export"
    """Exported model directory."""
    eval_dir: str = "../shared/data/bsds500/test"
    """Test images ("folder" protocol)."""
    tune_dir: str = "../shared/data/bsds500/train"
    """Images the classical methods are tuned on ("folder" protocol)."""
    images: int = Field(24, ge=1)
    """Test images (seeded crops, or synthetic images)."""
    skip_images: int = Field(12, ge=0)
    """First images of eval_dir left out (fit's validation images)."""
    tune_images: int = Field(6, ge=0)
    """Tuning images."""
    crop: int = Field(192, ge=1)
    """Side of the test and tuning images."""
    families: Families = list(FAMILIES)
    """Kernel families."""
    noise_levels: PositiveList = [0.01, 0.03]
    """Gaussian std, or peak photon counts with noise_model "poisson_gaussian"."""
    methods: list[str] = ["model", "linear", "wiener", "rl", "tv", "rl_valid", "tv_valid"]
    """"model", "linear" and classical methods (keys of glra_trainer.baselines.METHODS)."""
    seed: int = Field(2024, ge=0)
    """Seed of the test set (tuning set: seed + 1)."""
    out: str = "trainer/runs/default/eval"
    """Directory of results.csv, summary.json and table.md."""
    device: str = "auto"
    """auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps."""
    smoke: bool = False
    """Set by --smoke (recorded only)."""
    tuned: str | None = None
    """summary.json of an earlier run: reuse its tuned parameters instead of tuning."""
    eval_source: Literal["folder", "fluorescence"] = "folder"
    """"folder" (eval_dir / tune_dir crops) or "fluorescence" (synthetic, seeded)."""
    noise_model: Literal["gaussian", "poisson_gaussian"] = "gaussian"
    """Or "poisson_gaussian": noise_levels are then peak photon counts."""
    read_noise: float = Field(2.0, ge=0)
    """Photons of Gaussian read noise ("poisson_gaussian")."""
    saturation: float | None = Field(None, gt=0)
    """None: 1.2 for "folder" (the paper's), none (1) for "fluorescence"."""
    model_noise: Literal["known", "estimated"] = "known"
    """Noise level given to the model: "known" or "estimated" (the engine's)."""
    model_tta: bool = False
    """Run the model with test-time augmentation (its 8 flips and rotations averaged)."""
    fluorescence: dict[str, Any] = {}
    """Keyword arguments of napari_glra.physics.synthetic.fluorescence_image."""

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        from .baselines import METHODS

        known = ["model", "linear", *METHODS]
        unknown = [m for m in value if m not in known]
        if not value or unknown:
            raise ValueError(f"unknown methods {unknown}; choose from {known}")
        return value


# --------------------------------------------------------------------------- export


class ExportConfig(Section):
    """``[export]``: a run's checkpoint as a model directory and its card (:mod:`glra_trainer.export`)."""

    section: ClassVar[str] = "export"

    run: str = "trainer/runs/default"
    """Run directory of ``glra-train fit``."""
    name: str = Field("default", min_length=1)
    """Model name."""
    version: str = "1"
    """Model version (an integer is taken as its text)."""
    out: str | None = None
    """Model directory to write (None: src/napari_glra/models/<name>)."""
    eval: str | None = None
    """summary.json of ``glra-train evaluate`` to put in the card."""
    eval_more: list[str] = []
    """Further summary.json files (other protocols), each a section of the card."""
    description: str = (
        "General-purpose model for natural and scientific images: Gaussian, disk and motion blur."
    )
    """First paragraph of the card."""

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


#: The section model of each subcommand.
SECTIONS: dict[str, type[Section]] = {
    "basis": BasisConfig,
    "fit": FitConfig,
    "evaluate": EvaluateConfig,
    "export": ExportConfig,
}


# --------------------------------------------------------------------------- files


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML config file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    dict
        Its content.

    Raises
    ------
    ConfigError
        When the file is missing or is not valid TOML.
    """
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"no config file {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None


def file_section(data: Mapping[str, Any], command: str) -> dict[str, Any]:
    """The keys a config file sets for ``command``.

    A file with subcommand tables gives the table of ``command`` (empty when it has
    none); anything else at its top level is an error, since no subcommand would read
    it.  A file without subcommand tables is the section itself.

    Parameters
    ----------
    data : mapping
        The file's content (:func:`read_config_file`).
    command : str
        ``"basis"``, ``"fit"``, ``"evaluate"`` or ``"export"``.

    Returns
    -------
    dict
        The section's keys and values, not validated yet.

    Raises
    ------
    ConfigError
        When the file has subcommand tables and something else at its top level.
    """
    if not any(k in SECTIONS for k in data):
        return dict(data)
    stray = [k for k in data if k not in SECTIONS]
    if stray:
        raise ConfigError(
            f"unknown table or top-level key {', '.join(repr(k) for k in stray)} in a config file with "
            f"subcommand tables; expected only {', '.join(f'[{s}]' for s in SECTIONS)}"
        )
    return dict(data.get(command, {}))
