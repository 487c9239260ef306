"""The GLRA deconvolution network as a bare ``torch.nn.Module`` (no training code).

Architecture (after Ren et al. 2018):

1. deconvolution block: ``m`` vertical ``d × 1`` filters (init. ``L``), a 1×1
   ``m → m`` layer fixed to the input kernel's ``M`` (one per sample, not
   trained), ``m`` horizontal ``1 × d`` filters (init. ``R``); its ``m`` output
   channels are mixed by a learned 1×1 ``m → width - 1`` layer and joined by
   their sum, the linear GLRA estimate ``(L M Rᵀ) * y``;
2. artifact-removal block of valid convolutions with LeakyReLU 0.2:
   ``k1 × k1`` ``width → width`` (the paper's first layer is 15×15 ``m → 128``;
   ours is factored into the exact 1×1 mix above and a smaller spatial
   kernel so that it trains on a CPU), 1×1, ``depth`` × ``3 × 3`` (a wider
   receptive field at low cost; with ``dilations`` each may be dilated, as in
   IRCNN, for a wider field at the same cost), ``7 × 7`` ``width → 1``.  With ``scale = s > 1``
   the block runs at ``1/s`` resolution on pixel-unshuffled inputs (``s²`` times
   the channels, as in FFDNet) and its last layer makes ``s²`` outputs that are
   pixel-shuffled back: ``s²`` times cheaper per pixel for the same layers, ``s``
   times the receptive field.  With ``levels = L > 0`` the block is a multi-scale
   encoder-decoder (U-Net) of valid convolutions instead (:mod:`napari_glra.glra.unet`),
   aligned to cells of ``scale * 2**L`` pixels.

With ``feature_maps = F > 0`` the deconvolution also runs in feature space (as in Dong et al.
2020, "Deep Wiener deconvolution"): two learned ``feature_kernel`` convolutions make ``F`` feature
maps of the blurred image, each is deconvolved by the balance-1 GLRA filter ``L M Rᵀ`` (in the
Fourier domain, like the image), and the ``F`` results join the artifact block's inputs.  Noise
and edges are separated before the inverse filter amplifies them.

Everything before the spatial block is linear, so it is applied exactly in
the Fourier domain on a mirror-padded image (``path="fft"``, the default);
``path="direct"`` runs the same maths with spatial (circular) convolutions,
for testing.  The output is the linear estimate plus the artifact block's
correction (``residual=True``).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_glra._fft import next_fast_len
from napari_glra.glra import blocks, unet

__all__ = ["NET_LIMITS", "NetConfig", "GLRANet", "count_parameters", "macs_per_pixel", "mirror_pad"]


@dataclass
class NetConfig:
    """Architecture of :class:`GLRANet` (saved beside the weights)."""

    d: int = 151
    m: int = 50
    width: int = 16
    first_kernel: int = 7
    depth: int = 4
    mid_kernel: int = 3
    last_kernel: int = 7
    negative_slope: float = 0.2
    residual: bool = True
    #: Regularisation multipliers (of the noise-matched weight) of the GLRA estimates fed to the
    #: artifact block: one ``M`` per balance and sample.  Must contain 1.0 (the residual base).
    balances: tuple[float, ...] = (1.0,)
    #: Learned 1x1 mixes of the ``m`` deconvolution channels (of the balance-1 ``M``);
    #: ``None``: ``width - len(balances)``.
    mix: int | None = None
    #: One more artifact-block input channel: 1 on observed pixels, 0 beyond them (the
    #: engine's border extension and the mirror padding), so that the network knows
    #: where the image border is.
    border_channel: bool = False
    #: Resolution factor of the artifact block: it runs on ``scale x scale`` pixel-unshuffled
    #: inputs and pixel-shuffles its ``scale²`` outputs back (1: full resolution).
    scale: int = 1
    #: Dilation of each of the ``depth`` middle convolutions (``None``: all 1).  E.g.
    #: ``(1, 2, 3, 4, 4, 3, 2, 1)`` widens the receptive field from 29 to 53 px at the same
    #: cost and parameter count (as in IRCNN, Zhang et al. 2017).
    dilations: tuple[int, ...] | None = None
    #: Levels of a multi-scale (U-Net) artifact block (:mod:`napari_glra.glra.unet`; 0: the flat
    #: block).  With ``L > 0`` ``depth`` is the number of middle convolutions per level and stage,
    #: and the width doubles at each level.
    levels: int = 0
    #: Learned feature maps of the blurred image that are deconvolved by the balance-1 GLRA
    #: filter and fed to the artifact block (0: none, the image alone is deconvolved).
    feature_maps: int = 0
    #: Side (odd) of the two convolutions that make the feature maps.
    feature_kernel: int = 3
    #: A second artifact block (a *refiner*) after the first: it reads the first block's
    #: restored image and the same features, and adds its correction to that image.  Its
    #: fields are those of :data:`REFINER_FIELDS` (the rest keep their defaults); ``None``: one
    #: block.
    refiner: NetConfig | None = None

    @property
    def block_margin(self) -> int:
        """Pixels this config's own artifact block eats per side (the first block's, with a refiner)."""
        if self.levels:
            shrink = self.depth * (self.mid_kernel // 2)
            return self.scale * unet.left_margin(self.first_kernel, shrink, self.levels, self.last_kernel)
        mid = sum(self.mid_dilations) * (self.mid_kernel // 2)
        per_layer = self.first_kernel // 2 + mid + self.last_kernel // 2
        return self.scale * per_layer

    @property
    def block_cell(self) -> int:
        """Grid cell (pixels) of this config's own artifact block: ``scale * 2**levels``."""
        return self.scale * 2**self.levels

    def block_extra(self, n: int) -> int:
        """Rows beyond ``n + 2 block_margin`` this config's own block needs for ``n`` outputs.

        Always in ``[0, block_cell)``: the flat block at ``1/scale`` resolution rounds up to a
        multiple of ``scale``, the U-Net block to lengths that every level can halve.
        """
        s = self.scale
        if not self.levels:
            return -n % s
        shrink = self.depth * (self.mid_kernel // 2)
        cells = unet.input_cells(-(-n // s), self.first_kernel, shrink, self.levels, self.last_kernel)
        return s * cells - n - 2 * self.block_margin

    @property
    def refiner_margin(self) -> int:
        """Pixels per side the first block's image reaches beyond the output (0 without a refiner).

        The refiner's margin rounded up to the first block's cell, so that the first block's
        grid falls where it falls without a refiner: the same function at every pixel (a
        trained one-block model grown with a refiner keeps its image).
        """
        if self.refiner is None:
            return 0
        return -(-self.refiner.block_margin // self.block_cell) * self.block_cell

    def stage_sizes(self, n: int) -> int:
        """Outputs the first block makes for ``n`` final outputs (``n`` without a refiner)."""
        r = self.refiner
        return n if r is None else n + 2 * self.refiner_margin + r.block_extra(n)

    @property
    def feature_reach(self) -> int:
        """Pixels per side the feature-map convolutions read (0 without feature maps)."""
        return 2 * (self.feature_kernel // 2) if self.feature_maps else 0

    @property
    def cell(self) -> int:
        """Side (pixels) of the grid cells the artifact blocks work on: tiles align to it."""
        if self.refiner is None:
            return self.block_cell
        return int(np.lcm(self.block_cell, self.refiner.block_cell))

    def extra(self, n: int) -> int:
        """Feature rows (or columns) the artifact blocks need beyond ``n + 2 margin`` for ``n`` outputs.

        At most :attr:`max_extra` (below ``cell`` for one block): what the first block needs for
        :meth:`stage_sizes` outputs plus, with a refiner, what the refiner needs.
        """
        n1 = self.stage_sizes(n)
        return n1 - n - 2 * self.refiner_margin + self.block_extra(n1)

    @property
    def max_extra(self) -> int:
        """The largest :meth:`extra` of any size."""
        r = self.refiner
        return self.block_cell - 1 + (0 if r is None else r.block_cell - 1)

    @property
    def mid_dilations(self) -> tuple[int, ...]:
        """Dilation of each middle convolution (all 1 unless ``dilations`` is given)."""
        return (1,) * self.depth if self.dilations is None else tuple(self.dilations)

    @property
    def n_mix(self) -> int:
        """Number of mixed deconvolution channels."""
        return self.width - len(self.balances) if self.mix is None else int(self.mix)

    @property
    def in_channels(self) -> int:
        """Channels entering the artifact block."""
        return len(self.balances) + self.n_mix + self.feature_maps + int(self.border_channel)

    @property
    def refiner_in_channels(self) -> int:
        """Channels entering the refiner: the first block's image and its input features."""
        return 1 + self.in_channels

    @property
    def base_index(self) -> int:
        """Index of the balance-1 estimate (the residual base) among the balances."""
        return list(self.balances).index(1.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable; ``balances`` as a list)."""
        d = asdict(self)
        d["balances"] = [float(b) for b in self.balances]
        if not self.levels:
            del d["levels"]  # flat-block configs stay readable by earlier versions
        if not self.feature_maps:
            del d["feature_maps"], d["feature_kernel"]  # as for levels
        if self.dilations is None:
            del d["dilations"]  # configs without dilations stay readable by earlier versions
        else:
            d["dilations"] = [int(v) for v in self.dilations]
        if self.refiner is None:
            del d["refiner"]  # as for levels
        else:
            r = self.refiner.to_dict()
            d["refiner"] = {k: v for k, v in r.items() if k in REFINER_FIELDS}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetConfig:
        """Build from a dict (a model's ``config.json`` ``network``), checking every field.

        Missing fields take their defaults.  Each field is type- and range-checked
        (see :data:`NET_LIMITS`) before anything is allocated, so that a corrupt or
        hand-edited config cannot build a huge or inconsistent network.

        Parameters
        ----------
        data : dict
            Field name -> value (JSON types: ``balances`` a list, booleans real
            booleans; integral floats are accepted for integers).

        Returns
        -------
        NetConfig
            The configuration.

        Raises
        ------
        ValueError
            If ``data`` is not a dict, has unknown keys, or a field has the wrong type or
            is out of range; the message names the field (``network.<field>``).
        """
        if not isinstance(data, dict):
            raise ValueError(
                f"network must be a JSON object of NetConfig fields, got {type(data).__name__} {data!r:.80}"
            )
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown network config keys {sorted(extra)}; known: {sorted(known)}")
        values = {**asdict(cls()), **data}
        lim = NET_LIMITS
        out: dict[str, Any] = {}
        out["d"] = _int_field(values, "d", 3, lim["d"], odd=True)
        out["m"] = _int_field(values, "m", 1, out["d"], hi_name=f"network.d = {out['d']}")
        out["width"] = _int_field(values, "width", 1, lim["width"])
        for name in ("first_kernel", "mid_kernel", "last_kernel"):
            out[name] = _int_field(values, name, 1, lim["kernel"], odd=True)
        out["depth"] = _int_field(values, "depth", 0, lim["depth"])
        out["scale"] = _int_field(values, "scale", 1, lim["scale"])
        out["levels"] = _int_field(values, "levels", 0, lim["levels"])
        out["feature_maps"] = _int_field(values, "feature_maps", 0, lim["width"])
        out["feature_kernel"] = _int_field(values, "feature_kernel", 1, lim["kernel"], odd=True)
        slope = values["negative_slope"]
        if not _is_real(slope) or not 0 <= float(slope) <= 1:
            raise ValueError(f"network.negative_slope must be a number in [0, 1], got {slope!r}")
        out["negative_slope"] = float(slope)
        for name in ("residual", "border_channel"):
            v = values[name]
            if not isinstance(v, (bool, np.bool_)):
                raise ValueError(f"network.{name} must be true or false, got {v!r}")
            out[name] = bool(v)
        bal = values["balances"]
        if isinstance(bal, (str, bytes, dict)) or not isinstance(bal, (list, tuple)):
            raise ValueError(
                f"network.balances must be a list of positive numbers containing 1.0, got {bal!r}"
            )
        if not 1 <= len(bal) <= lim["balances"]:
            raise ValueError(
                f"network.balances must hold 1 to {lim['balances']} numbers (one of them 1.0), got {len(bal)}"
            )
        if not all(_is_real(b) and 0 < float(b) < np.inf for b in bal):
            raise ValueError(f"network.balances must be positive finite numbers, got {list(bal)!r}")
        out["balances"] = tuple(float(b) for b in bal)
        if 1.0 not in out["balances"]:
            raise ValueError(
                f"network.balances must contain 1.0 (the residual base), got {list(out['balances'])}"
            )
        if values["mix"] is None:
            out["mix"] = None
            if out["width"] < len(out["balances"]):
                raise ValueError(
                    f"network.width must be at least len(network.balances) = {len(out['balances'])} when "
                    f"network.mix is not given, got {out['width']}"
                )
        else:
            out["mix"] = _int_field(values, "mix", 0, lim["width"])
        out["dilations"] = _dilations_field(values["dilations"], out["depth"], lim["dilation"])
        if out["levels"] and out["dilations"] is not None:
            raise ValueError("network.dilations applies to the flat block only (network.levels = 0)")
        out["refiner"] = _refiner_field(values["refiner"])
        cfg = cls(**out)
        n = _parameter_count(cfg)
        if n > lim["parameters"]:
            raise ValueError(
                f"network: this configuration has {n:,} parameters, more than the {lim['parameters']:,} "
                "napari-glra loads (check network.width, network.depth and the kernel sizes)"
            )
        return cfg

    @property
    def margin(self) -> int:
        """Pixels the valid spatial convolutions eat per side (full-resolution pixels).

        The artifact block's, plus the refiner's when there is one.  For a U-Net block
        (``levels > 0``) this is the top and left; the bottom and right need up to
        :attr:`max_extra` more (:meth:`extra`).
        """
        return self.block_margin + self.refiner_margin


#: Bounds :meth:`NetConfig.from_dict` enforces: ``d`` (odd, the basis window side), ``width``
#: (also ``mix``), ``depth``, ``kernel`` (odd sides of the artifact block's convolutions),
#: ``scale``, the number of ``balances``, the largest ``dilation`` and the total number of
#: ``parameters``.  The shipped models use d 151, width <= 48, depth <= 8, kernels <= 7, scale <= 2
#: and ~0.2 M parameters.
NET_LIMITS: dict[str, int] = {
    "d": 401,
    "width": 1024,
    "depth": 64,
    "kernel": 31,
    "scale": 8,
    "levels": 4,
    "balances": 16,
    "dilation": 32,
    "parameters": 20_000_000,
}

#: The fields a ``refiner`` sets: those of an artifact block.
REFINER_FIELDS: frozenset[str] = frozenset(
    {
        "width",
        "first_kernel",
        "depth",
        "mid_kernel",
        "last_kernel",
        "negative_slope",
        "scale",
        "dilations",
        "levels",
    }
)


def _refiner_field(v: Any) -> NetConfig | None:
    """``network.refiner`` (a dict of :data:`REFINER_FIELDS` or None) as a config, else a ``ValueError``."""
    if v is None:
        return None
    if isinstance(v, NetConfig):
        v = v.to_dict()
        v = {k: val for k, val in v.items() if k in REFINER_FIELDS}
    if not isinstance(v, dict):
        raise ValueError(f"network.refiner must be a table of artifact-block fields, got {v!r:.80}")
    extra = set(v) - REFINER_FIELDS
    if extra:
        raise ValueError(
            f"network.refiner: unknown or refused keys {sorted(extra)}; a refiner sets only "
            f"{sorted(REFINER_FIELDS)}"
        )
    try:
        return NetConfig.from_dict(dict(v))
    except ValueError as err:
        raise ValueError(str(err).replace("network.", "network.refiner.", 1)) from None


def _is_real(v: Any) -> bool:
    """A finite real number (not a bool)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return False
    try:
        return bool(np.isfinite(float(v)))
    except OverflowError:  # an int beyond float range (JSON allows any)
        return False


def _int_field(
    values: dict[str, Any], name: str, lo: int, hi: int, *, odd: bool = False, hi_name: str | None = None
) -> int:
    """``values[name]`` as an int in ``[lo, hi]`` (odd if asked), or a ``ValueError`` naming it."""
    v = values[name]
    ok = _is_real(v) and float(v).is_integer()
    if ok:
        iv = int(v)
        ok = lo <= iv <= hi and (not odd or iv % 2 == 1)
    if not ok:
        kind = "an odd integer" if odd else "an integer"
        raise ValueError(f"network.{name} must be {kind} in [{lo}, {hi_name or hi}], got {v!r}")
    return iv


def _dilations_field(v: Any, depth: int, hi: int) -> tuple[int, ...] | None:
    """``network.dilations`` as ``depth`` integers in ``[1, hi]`` (or None), else a ``ValueError``."""
    if v is None:
        return None
    ok = isinstance(v, (list, tuple)) and len(v) == depth
    ok = ok and all(_is_real(e) and float(e).is_integer() and 1 <= int(e) <= hi for e in v)
    if not ok:
        raise ValueError(
            f"network.dilations must be a list of network.depth = {depth} integers in [1, {hi}], "
            f"got {v!r:.80}"
        )
    return tuple(int(e) for e in v)


def _parameter_count(c: NetConfig) -> int:
    """Parameters of ``GLRANet(c)`` (computed without building it)."""
    fk, nf = c.feature_kernel**2, c.feature_maps
    lift = (fk + 1) * nf + (nf * fk + 1) * nf
    n = 2 * c.d * c.m + c.n_mix * c.m + lift + blocks.block_parameters(c, c.in_channels)
    if c.refiner is not None:
        n += blocks.block_parameters(c.refiner, c.refiner_in_channels)
    return n


def mirror_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Symmetric (half-sample mirror) padding of the last two axes, any width.

    Unlike ``F.pad(mode="reflect")`` the pad may exceed the image size (the
    image is then mirrored repeatedly).
    """

    def idx(n: int, before: int, after: int) -> torch.Tensor:
        i = torch.arange(-before, n + after)
        period = 2 * n
        i = torch.remainder(i, period)
        return torch.where(i < n, i, period - 1 - i)

    h, w = x.shape[-2:]
    x = x.index_select(-2, idx(h, top, bottom).to(x.device))
    return x.index_select(-1, idx(w, left, right).to(x.device))


def _context_sides(context: int | tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """``context`` as ``(top, bottom, left, right)`` pixels."""
    if isinstance(context, (tuple, list)):
        if len(context) != 4:
            raise ValueError(f"context must be an int or (top, bottom, left, right), got {context!r}")
        return tuple(int(v) for v in context)  # type: ignore[return-value]
    c = int(context)
    return c, c, c, c


def _centred_fft_1d(f: torch.Tensor, n: int, real: bool) -> torch.Tensor:
    """FFT along dim 0 of filters ``f`` (``d × m``) whose centre goes to index 0."""
    d = f.shape[0]
    if d > n:
        raise ValueError(f"FFT grid {n} is smaller than the filter length {d}")
    pad = torch.zeros((n,) + tuple(f.shape[1:]), dtype=f.dtype, device=f.device)
    pad[:d] = f
    pad = torch.roll(pad, -(d // 2), dims=0)
    return torch.fft.rfft(pad, dim=0) if real else torch.fft.fft(pad, dim=0)


def _real_block(b: torch.Tensor) -> torch.Tensor:
    """The ``(2m, 2p)`` real matrix ``[[br bi], [-bi br]]`` of a complex ``(m, p)`` matrix.

    Laid out (``(m, 2, p, 2)``) so that ``view_as_real(a) @ block`` is the interleaved
    complex ``a @ b``; see :func:`_complex_matmul_real`.
    """
    m, p = b.shape
    br, bi = b.real, b.imag
    rows_re = torch.stack([br, bi], -1)  # (m, p, 2): re part of a times (br, bi)
    rows_im = torch.stack([-bi, br], -1)  # im part of a times (-bi, br)
    return torch.stack([rows_re, rows_im], 1).reshape(2 * m, 2 * p)


def _complex_matmul_real(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for complex matrices as one real GEMM: ``[ar ai] @ [[br bi], [-bi br]]``.

    ``a`` is ``(n, m)``, ``b`` is ``(m, p)``; see :func:`_matmul_real_block` to reuse the
    real block of ``b`` for several ``a``.
    """
    return _matmul_real_block(a, _real_block(b))


def _matmul_real_block(a: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for a complex ``(n, m)`` ``a`` and ``block = _real_block(b)``."""
    m2, p2 = block.shape
    out = torch.view_as_real(a.contiguous()).reshape(a.shape[0], m2) @ block
    return torch.view_as_complex(out.view(a.shape[0], p2 // 2, 2))


class GLRANet(nn.Module):
    """GLRA deconvolution network.

    Parameters
    ----------
    config : NetConfig
        Architecture.
    L, R : numpy.ndarray, optional
        ``d × m`` initial vertical / horizontal filters (the GLRA basis).
        Random orthonormal columns if omitted (the paper's ablation).
    seed : int
        Seed for the random initialisation.
    """

    def __init__(
        self,
        config: NetConfig | None = None,
        L: np.ndarray | None = None,
        R: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.config = c = config or NetConfig()
        gen = torch.Generator().manual_seed(seed)
        for name, init in (("L", L), ("R", R)):
            if init is None:
                q, _ = torch.linalg.qr(torch.randn(c.d, c.m, generator=gen, dtype=torch.float64))
                init_t = q.float()
            else:
                init_t = torch.as_tensor(np.asarray(init), dtype=torch.float32)
                if tuple(init_t.shape) != (c.d, c.m):
                    raise ValueError(f"{name} has shape {tuple(init_t.shape)}, expected {(c.d, c.m)}")
            self.register_parameter(name, nn.Parameter(init_t.clone()))
        # 1x1 m -> n_mix mix of the m deconvolution channels (exact, in Fourier); with the
        # linear estimates (one per balance) they are the artifact block's input channels.
        self.mix = nn.Parameter(torch.randn(c.n_mix, c.m, generator=gen) * 0.1 * c.m**-0.5)
        if c.feature_maps:
            # Feature maps of the blurred image, deconvolved like it ("same" convolutions on the
            # padded FFT grid; pad_amount keeps their zero-padded rim out of the output's reach).
            nf, fk = c.feature_maps, c.feature_kernel
            act = nn.LeakyReLU(c.negative_slope, inplace=c.negative_slope > 0)
            self.lift = nn.Sequential(
                nn.Conv2d(1, nf, fk, padding=fk // 2), act, nn.Conv2d(nf, nf, fk, padding=fk // 2)
            )
            with torch.no_grad():
                for conv in (self.lift[0], self.lift[2]):
                    nn.init.kaiming_normal_(
                        conv.weight, a=c.negative_slope, nonlinearity="leaky_relu", generator=gen
                    )
                    nn.init.zeros_(conv.bias)
        self.body = blocks.make_block(c, c.in_channels, gen)
        if c.refiner is not None:
            # Last, so that the first block's initialisation is that of a network without it.
            self.refine = blocks.make_block(c.refiner, c.refiner_in_channels, gen)

    # ------------------------------------------------------------------ helpers
    def pad_amount(self) -> int:
        """Mirror padding per side that makes the Fourier block exact.

        It includes :attr:`NetConfig.max_extra` pixels for the artifact blocks'
        :meth:`NetConfig.extra` rows and columns (for the flat block at ``1/scale`` resolution,
        rounding up to a multiple of ``scale``) and the feature maps' reach
        (:attr:`NetConfig.feature_reach`).
        """
        c = self.config
        return c.d // 2 + c.feature_reach + c.margin + c.max_extra

    def _grid(self, h: int, w: int) -> tuple[int, int, int]:
        p = self.pad_amount()
        return p, next_fast_len(h + 2 * p), next_fast_len(w + 2 * p)

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        y: torch.Tensor,
        M: torch.Tensor,
        path: str = "fft",
        context: int | tuple[int, int, int, int] = 0,
        observed: torch.Tensor | None = None,
        body_dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Restore a batch of blurred images.

        Parameters
        ----------
        y : torch.Tensor
            ``(B, 1, H, W)`` blurred images on the [0, 1] scale.
        M : torch.Tensor
            ``(B, S, m, m)`` GLRA coefficients of each image's kernel, one per balance
            of ``config.balances`` (``(B, m, m)`` is accepted when ``S = 1``).
        path : {"fft", "direct"}
            Exact Fourier evaluation (default) or spatial convolutions.
        context : int or tuple of 4 int
            Pixels per side of ``y`` (or ``(top, bottom, left, right)``) that are observed
            context only (training crops taken with real surroundings, tiles, the
            engine's border extension): the output is the centre without them
            (``(H - 2 context, W - 2 context)`` for an int).  Beyond the context, ``y``
            is mirror-padded as usual.
        observed : torch.Tensor, optional
            ``(B, 1, H, W)`` mask, 1 where ``y`` is observed and 0 where it was
            extended (used with ``config.border_channel``; default: all observed).
        body_dtype : torch.dtype, optional
            Run the artifact block under autocast to this dtype (e.g. ``torch.bfloat16``
            on CPUs with native bf16); the linear block and the residual sum stay float32.

        Returns
        -------
        torch.Tensor
            ``(B, 1, H - 2 context, W - 2 context)`` restored images.
        """
        c = self.config
        ct, cb, cl, cr = _context_sides(context)
        H, W = y.shape[-2] - ct - cb, y.shape[-1] - cl - cr
        # The artifact block at 1/scale resolution needs a multiple of scale: a few more rows
        # and columns of features (bottom, right; their outputs are dropped).
        extra = (c.extra(H), c.extra(W))
        feats = self.features(y, M, path=path, context=context, observed=observed, extra=extra)
        lower = body_dtype is not None and body_dtype != feats.dtype
        dtype = body_dtype if lower else feats.dtype
        with torch.autocast(feats.device.type, dtype=body_dtype) if lower else nullcontext():
            if c.refiner is None:
                return self._stage(self.body, c, feats, (H, W), dtype)
            # The first block restores a wider image (the refiner's margin and extra rows), the
            # refiner reads it beside the same features and adds its correction.
            # It reaches refiner_margin >= the refiner's margin: the refiner reads from o on.
            r, m1, m = c.refiner, c.block_margin, c.refiner_margin
            n1 = (c.stage_sizes(H), c.stage_sizes(W))
            x1 = self._stage(self.body, c, feats, n1, dtype)
            inputs = torch.cat([x1, feats[..., m1 : m1 + n1[0], m1 : m1 + n1[1]]], 1)
            o, m2 = m - r.block_margin, r.block_margin
            rows, cols = (slice(o, o + n + 2 * m2 + r.block_extra(n)) for n in (H, W))
            out = self._stage(self.refine, r, inputs[..., rows, cols], (H, W), dtype, residual=False)
            return out + x1[..., m : m + H, m : m + W]

    def _stage(
        self,
        body: nn.Module,
        cfg: NetConfig,
        feats: torch.Tensor,
        size: tuple[int, int],
        dtype: torch.dtype,
        *,
        residual: bool | None = None,
    ) -> torch.Tensor:
        """One artifact block on ``feats`` (its margin and extra rows around ``size`` outputs).

        Returns ``size`` outputs in ``feats``' dtype, plus the balance-1 estimate (channel
        ``base_index`` of ``feats``) when ``residual`` (default: ``config.residual``).
        """
        H, W = size
        out = blocks.run_block(body, cfg, feats, dtype).to(feats.dtype)[..., :H, :W].contiguous()
        if self.config.residual if residual is None else residual:
            r, i = cfg.block_margin, self.config.base_index
            out = out + feats[:, i : i + 1, r : r + H, r : r + W]
        return out

    def linear(
        self,
        y: torch.Tensor,
        M: torch.Tensor,
        path: str = "fft",
        context: int | tuple[int, int, int, int] = 0,
    ) -> torch.Tensor:
        """Output of the deconvolution block alone, ``(L M Rᵀ) * y`` (``context`` as in forward)."""
        i = self.config.base_index
        return self.features(y, M, path=path, margin=0, mixed=False, context=context)[:, i : i + 1]

    def _check_M(self, y: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        c = self.config
        S = len(c.balances)
        if M.ndim == 3 and S == 1:
            M = M[:, None]
        if tuple(M.shape) != (y.shape[0], S, c.m, c.m):
            raise ValueError(f"M must have shape {(y.shape[0], S, c.m, c.m)}, got {tuple(M.shape)}")
        return M

    def features(
        self,
        y: torch.Tensor,
        M: torch.Tensor,
        *,
        path: str = "fft",
        margin: int | None = None,
        mixed: bool = True,
        context: int | tuple[int, int, int, int] = 0,
        observed: torch.Tensor | None = None,
        extra: tuple[int, int] = (0, 0),
    ) -> torch.Tensor:
        """Linear estimates and mixed deconvolution channels, ``margin`` px wider per side.

        Returns a ``(B, S + n_mix + F [+ 1], h + 2 margin, w + 2 margin)`` tensor, with
        ``h, w`` the size of ``y`` without its ``context``: the ``S`` linear GLRA estimates (one per
        balance) then the mixes and the ``F = config.feature_maps`` deconvolved feature maps (only
        the estimates if ``mixed`` is false), then with ``config.border_channel`` the observed
        mask (``observed``, zero beyond ``y``).
        ``extra = (rows, cols)`` (each at most ``config.max_extra``) adds rows at the bottom and
        columns at the right.
        """
        c = self.config
        if y.ndim != 4 or y.shape[1] != 1:
            raise ValueError(f"y must have shape (B, 1, H, W), got {tuple(y.shape)}")
        M = self._check_M(y, M)
        r = c.margin if margin is None else margin
        _, _, Hy, Wy = y.shape
        ct, cb, cl, cr = _context_sides(context)
        H, W = Hy - ct - cb, Wy - cl - cr
        if min(ct, cb, cl, cr) < 0 or H < 1 or W < 1:
            raise ValueError(f"context must be >= 0 and leave pixels of y {tuple(y.shape)}, got {context}")
        p, nh, nw = self._grid(H, W)
        # Context beyond what the blocks can see is dropped; mirror padding fills the rest.
        trim = (
            slice(None),
            slice(None),
            slice(max(0, ct - p), Hy - max(0, cb - p)),
            slice(max(0, cl - p), Wy - max(0, cr - p)),
        )
        et, el = max(0, p - ct), max(0, p - cl)
        y = y[trim]
        yp = mirror_pad(y, et, nh - et - y.shape[-2], el, nw - el - y.shape[-1])
        eh, ew = (int(e) for e in extra)
        if not (0 <= eh <= c.max_extra and 0 <= ew <= c.max_extra):
            raise ValueError(f"extra must be in [0, max_extra = {c.max_extra}], got {extra}")
        win = (slice(p - r, p + H + r + eh), slice(p - r, p + W + r + ew))
        if path == "fft":
            feats = self._fourier_block(yp, M, mixed, win)
        elif path == "direct":
            feats = self._direct_block(yp, M, mixed)[..., win[0], win[1]]
        else:
            raise ValueError(f"path must be 'fft' or 'direct', got {path!r}")
        if mixed and c.border_channel:
            obs = y.new_ones((y.shape[0], 1, Hy, Wy)) if observed is None else observed.to(y.dtype)
            if tuple(obs.shape) != (y.shape[0], 1, Hy, Wy):
                raise ValueError(
                    f"observed must have shape {(y.shape[0], 1, Hy, Wy)}, got {tuple(obs.shape)}"
                )
            obs = obs[trim]
            obs = F.pad(obs, (el, nw - el - obs.shape[-1], et, nh - et - obs.shape[-2]))
            feats = torch.cat([feats, obs[..., win[0], win[1]]], 1)
        return feats

    def _fourier_block(
        self, yp: torch.Tensor, M: torch.Tensor, mixed: bool, win: tuple[slice, slice]
    ) -> torch.Tensor:
        """The deconvolution block on the padded grid ``yp``, cropped to the window ``win``."""
        B, _, nh, nw = yp.shape
        c = self.config
        lifted = mixed and c.feature_maps > 0
        Y = torch.fft.rfft2(yp[:, 0])  # (B, nh, nwr)
        Lh = _centred_fft_1d(self.L, nh, real=False)  # (nh, m)
        Rh = _centred_fft_1d(self.R, nw, real=True)  # (nwr, m)
        P = torch.einsum("hi,bsij->bshj", Lh, M.to(Lh.dtype))  # (B, S, nh, m)
        if mixed and c.n_mix:
            mix = self.mix.to(P.dtype)
            Pm = P[:, c.base_index, None, :, :] * mix[None, :, None, :]  # (B, n_mix, nh, m)
            P = torch.cat([P, Pm], 1)
        # Channel k at (h, w) = sum_j P[b, k, h, j] Rh[w, j]: GEMMs in real arithmetic (faster
        # than complex ones on CPUs; the same products and sums).
        RhT = Rh.T
        lift_grad = lifted and self.lift[0].weight.requires_grad
        if torch.is_grad_enabled() and (lift_grad or any(t.requires_grad for t in (P, RhT, Y))):
            # Training: one batched GEMM and FFT (autograd; fastest on GPUs).
            G = _complex_matmul_real(P.reshape(-1, P.shape[-1]), RhT)  # (B * K * nh, nwr)
            G = G.reshape(B, -1, nh, Rh.shape[0])
            Fh = G * Y[:, None]
            if lifted:  # the feature maps through the balance-1 filter
                i = c.base_index
                Fh = torch.cat([Fh, G[:, i : i + 1] * torch.fft.rfft2(self.lift(yp))], 1)
            return torch.fft.irfft2(Fh, s=(nh, nw))[..., win[0], win[1]]
        # Inference: one channel at a time into the cropped output.  The temporaries stay
        # small and are reused, which on a CPU is ~2.5x faster than the batched form
        # (dominated there by allocating and touching the full-grid intermediates).
        K = P.shape[1]
        nf = c.feature_maps if lifted else 0
        rows, cols = win
        out = yp.new_empty((B, K + nf, rows.stop - rows.start, cols.stop - cols.start))
        block = _real_block(RhT)  # built once for the K * B products
        for b in range(B):
            for k in range(K):
                Fk = _matmul_real_block(P[b, k], block)  # (nh, nwr)
                if nf and k == c.base_index:
                    G = Fk.clone()  # the balance-1 filter, for the feature maps below
                Fk *= Y[b]
                out[b, k] = torch.fft.irfft2(Fk, s=(nh, nw))[rows, cols]
            if nf:
                maps = self.lift(yp[b : b + 1])[0]
                for f in range(nf):
                    out[b, K + f] = torch.fft.irfft2(G * torch.fft.rfft2(maps[f]), s=(nh, nw))[rows, cols]
        return out

    def _direct_block(self, yp: torch.Tensor, M: torch.Tensor, mixed: bool) -> torch.Tensor:
        c = self.config
        a = self._direct_columns(yp)
        out, chans = [], None
        for s in range(M.shape[1]):
            cc = self._direct_rows(a, M[:, s])
            out.append(cc.sum(1, keepdim=True))
            if s == c.base_index:
                chans = cc
        if mixed and c.n_mix:
            out.append(torch.einsum("bjhw,cj->bchw", chans, self.mix.to(chans.dtype)))
        if mixed and c.feature_maps:
            # Each feature map through the balance-1 filter L M Rᵀ, as the image.
            maps = self.lift(yp)
            B, nf, H, W = maps.shape
            a = self._direct_columns(maps.reshape(B * nf, 1, H, W))
            x = self._direct_rows(a, M[:, c.base_index].repeat_interleave(nf, 0)).sum(1)
            out.append(x.reshape(B, nf, H, W))
        return torch.cat(out, 1)

    def _direct_columns(self, x: torch.Tensor) -> torch.Tensor:
        """The ``m`` vertical ``L`` filters on ``(N, 1, H, W)`` images (circular): ``(N, m, H, W)``."""
        h = self.config.d // 2
        # Circular padding reproduces the Fourier block exactly; convolution = flipped correlation.
        return F.conv2d(F.pad(x, (0, 0, h, h), mode="circular"), self.L.T.flip(-1)[:, None, :, None])

    def _direct_rows(self, a: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        """``a`` (:meth:`_direct_columns` of ``x``) mixed by ``M``, then the horizontal ``R`` filters.

        ``M`` is ``(N, m, m)``; the result, ``(N, m, H, W)`` (circular), sums to ``(L M Rᵀ) * x``.
        """
        h = self.config.d // 2
        b = torch.einsum("bihw,bij->bjhw", a, M.to(a.dtype))
        R = self.R.T.flip(-1)[:, None, None, :]
        return F.conv2d(F.pad(b, (h, h, 0, 0), mode="circular"), R, groups=self.config.m)


def count_parameters(net: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a module."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)


def macs_per_pixel(config: NetConfig) -> dict[str, float]:
    """Multiply-accumulates per output pixel of a configuration.

    Returns
    -------
    dict
        ``direct``: everything as spatial convolutions (paper-style);
        ``deconv_block_direct``: the deconvolution block and 1×1 mix alone (with the feature
        maps and their convolutions);
        ``artifact_block``: the spatial convolutions after the Fourier block
        (what the default FFT path runs spatially; per full-resolution pixel);
        ``fourier``: complex MACs per frequency of the Fourier block
        (``(S + n_mix) × m``, plus one product per feature map), excluding the FFTs themselves
        and the feature maps' convolutions.
    """
    c = config
    S = len(c.balances)
    nf, fk = c.feature_maps, c.feature_kernel**2
    deconv = 2 * c.d * c.m * S + c.m * c.m * S + c.m * c.n_mix
    deconv += nf * (2 * c.d * c.m + c.m * c.m) + fk * nf + fk * nf * nf  # feature maps, their convs
    rest = blocks.block_macs(c, c.in_channels)
    if c.refiner is not None:
        rest += blocks.block_macs(c.refiner, c.refiner_in_channels)
    return {
        "direct": float(deconv + rest),
        "deconv_block_direct": float(deconv),
        "artifact_block": float(rest),
        "fourier": float((len(c.balances) + c.n_mix) * c.m + c.feature_maps),
    }
