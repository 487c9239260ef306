"""A multi-scale (U-Net) artifact-removal block of valid convolutions.

With ``NetConfig.levels = L > 0`` the artifact block of :class:`~napari_glra.glra.network.GLRANet`
is an encoder-decoder instead of a flat stack: a head (the ``first_kernel`` convolution and a
1 x 1), then at each level ``i = 0 .. L - 1`` ``depth`` 3 x 3 convolutions of width
``width * 2**i`` and a 2 x 2 stride-2 convolution down, ``depth`` convolutions at the bottom,
and on the way up a 2 x 2 stride-2 transposed convolution, the encoder's features of that level
added (a skip connection, cropped to match), and ``depth`` convolutions; then the
``last_kernel`` convolution.  Each level halves the resolution, so its convolutions cost a
quarter per pixel at twice the width, and the receptive field grows with ``2**L``: capacity and
context at little cost per pixel (issue #18's first lever).

Every convolution is *valid* (no padding), as in the flat block, so the output at a pixel is
an exact function of the input around it and tiles give the untiled result.  Two things
follow: the input must reach :func:`left_margin` cells beyond the output on the top and left and a
few more on the bottom and right (:func:`input_cells`), and the down-sampling grid must fall
alike in every tile: tiles are aligned to ``2**L`` cells (``NetConfig.cell`` pixels).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "UNetBody",
    "input_cells",
    "left_margin",
    "skip_offsets",
    "unet_macs",
    "unet_parameters",
    "unet_widths",
]


def unet_widths(width: int, levels: int) -> list[int]:
    """Channels at each level, ``width * 2**i`` for ``i = 0 .. levels``."""
    return [width * 2**i for i in range(levels + 1)]


def skip_offsets(shrink: int, levels: int) -> list[int]:
    """Cells (at level ``i``) by which the encoder's level-``i`` features start before the decoder's.

    ``shrink`` is what one stack of convolutions eats per side (``depth * (mid // 2)``).  In
    level-0 cells the encoder's level ``i`` starts at ``O_i`` (``O_{i+1} = O_i + 2**(i+1) shrink``),
    the decoder's at ``D_i`` (``D_L = O_L``, ``D_i = D_{i+1} + 2**i shrink``); the transposed
    convolution up to level ``i`` starts at ``D_{i+1}``, ``(D_{i+1} - O_i) / 2**i`` cells into the skip.
    """
    o = [0]
    for i in range(1, levels + 1):
        o.append(o[-1] + 2**i * shrink)
    d = [0] * (levels + 1)
    d[levels] = o[levels]
    for i in range(levels - 1, -1, -1):
        d[i] = d[i + 1] + 2**i * shrink
    return [(d[i + 1] - o[i]) // 2**i for i in range(levels)]


def left_margin(first_kernel: int, shrink: int, levels: int, last_kernel: int) -> int:
    """Input cells before the first output cell (top and left): ``first // 2 + D_0 + last // 2``.

    ``D_0 - O_0`` (see :func:`skip_offsets`) plus the encoder's and decoder's level-0 stacks.
    """
    o = sum(2**i * shrink for i in range(1, levels + 1))  # O_L - O_0
    dec = sum(2**i * shrink for i in range(levels))  # D_0 - D_L
    return first_kernel // 2 + shrink + o + dec + last_kernel // 2


def input_cells(out_cells: int, first_kernel: int, shrink: int, levels: int, last_kernel: int) -> int:
    """Input length (cells) whose output covers at least ``out_cells`` cells.

    Walks the block backwards: each decoder level needs an even length from the level below
    (rounded up), each encoder level exactly twice the length of the one below.
    """
    n = out_cells + 2 * (last_kernel // 2)
    for _ in range(levels):  # decoder levels 0 .. L-1: before their stack, then the up-sampling
        n = -(-(n + 2 * shrink) // 2)
    n += 2 * shrink  # the bottom stack
    for _ in range(levels):  # the down-sampling, then the encoder stack
        n = 2 * n + 2 * shrink
    return n + 2 * (first_kernel // 2)


def unet_parameters(
    in_channels: int, width: int, first: int, depth: int, mid: int, last: int, levels: int, outputs: int
) -> int:
    """Parameters of :class:`UNetBody` (computed without building it)."""
    w = unet_widths(width, levels)
    n = (in_channels * first**2 + 1) * w[0] + (w[0] + 1) * w[0] + (w[0] * last**2 + 1) * outputs
    for i, wi in enumerate(w):
        convs = depth if i == levels else 2 * depth  # encoder and decoder stacks; the bottom once
        n += convs * (wi * mid**2 + 1) * wi
    for i in range(levels):  # 2 x 2 down (w[i] -> w[i+1]) and up (w[i+1] -> w[i]), with biases
        n += 2 * 4 * w[i] * w[i + 1] + w[i + 1] + w[i]
    return n


def unet_macs(
    in_channels: int, width: int, first: int, depth: int, mid: int, last: int, levels: int, outputs: int
) -> float:
    """Multiply-accumulates per cell of the block's input grid."""
    w = unet_widths(width, levels)
    macs = in_channels * first**2 * w[0] + w[0] * w[0] + w[0] * last**2 * outputs
    for i, wi in enumerate(w):
        convs = depth if i == levels else 2 * depth
        macs += convs * mid**2 * wi * wi / 4**i
    for i in range(levels):  # down and up: 4 w[i] w[i+1] per cell of the coarser level
        macs += 2 * 4 * w[i] * w[i + 1] / 4 ** (i + 1)
    return float(macs)


class UNetBody(nn.Module):
    """The encoder-decoder artifact block (valid convolutions; see the module docstring).

    Parameters
    ----------
    in_channels, outputs : int
        Input channels (per cell) and outputs (per cell).
    width, depth, levels : int
        Channels at the finest level, 3 x 3 (``mid``) convolutions per level and stage, levels.
    first, mid, last : int
        Odd sides of the head, middle and last convolutions.
    negative_slope : float
        LeakyReLU slope.
    """

    def __init__(
        self,
        in_channels: int,
        outputs: int,
        *,
        width: int,
        depth: int,
        levels: int,
        first: int,
        mid: int,
        last: int,
        negative_slope: float,
    ) -> None:
        super().__init__()
        w = unet_widths(width, levels)
        self.levels = levels
        self.act = nn.LeakyReLU(negative_slope)
        self.head = nn.Sequential(
            nn.Conv2d(in_channels, w[0], first), self.act, nn.Conv2d(w[0], w[0], 1), self.act
        )

        def stack(c: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers += [nn.Conv2d(c, c, mid), self.act]
            return nn.Sequential(*layers)

        self.enc = nn.ModuleList(stack(w[i]) for i in range(levels))
        self.down = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 2, stride=2) for i in range(levels))
        self.bottom = stack(w[levels])
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(levels))
        self.dec = nn.ModuleList(stack(w[i]) for i in range(levels))
        self.last = nn.Conv2d(w[0], outputs, last)
        self.offsets = skip_offsets((mid // 2) * depth, levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in, n, n')`` cells to ``(B, outputs, ., .)``; lengths as :func:`input_cells` gives."""
        x = self.head(x)
        skips = []
        for enc, down in zip(self.enc, self.down):
            x = enc(x)
            skips.append(x)
            if x.shape[-2] % 2 or x.shape[-1] % 2:
                raise ValueError(
                    f"U-Net block: odd feature size {tuple(x.shape[-2:])} before down-sampling "
                    "(the input size must come from input_cells)"
                )
            x = self.act(down(x))
        x = self.bottom(x)
        for i in range(self.levels - 1, -1, -1):
            u = self.up[i](x)
            s = skips[i]
            o = self.offsets[i]  # the skip starts o cells before the up-sampled features
            x = self.act(u + s[..., o : o + u.shape[-2], o : o + u.shape[-1]])
            x = self.dec[i](x)
        return self.last(x)
