"""Feature extraction: the content encoder E_c, image [B,3,H,W] → content code c [B,C,H/8,W/8].

Trained from scratch with the rest of the model (MUNIT's content encoder, slimmed for CPU speed):
a 2x pixel-unshuffle, a stride-2 conv to stride 4, a conv, a stride-2 conv to stride 8 and a final
conv. No normalisation layers, so the network is local and can run tile by tile exactly.

Cost with the default config (32/96 channels): ≈ 2.5 k MACs per input pixel ≈ 5.0 GFLOPs per
megapixel; ≈ 0.13 M parameters. Receptive field: 51 px (radius 25).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import StyleFusionConfig
from .layers import conv3x3, lrelu

#: Downsampling factor between an image and its content code.
CONTENT_STRIDE = 8
#: Radius in input pixels of E_c's receptive field (for tiling halos).
CONTENT_HALO = 32


class FeatureExtractor(nn.Module):
    """E_c: content code c = E_c(x) for x ∈ [0,1]^{B×3×H×W} with H, W multiples of 8."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        c4, c8 = config.content_width_s4, config.content_width
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2),  # [B,12,H/2,W/2]
            nn.Conv2d(12, c4, 3, 2, 1), lrelu(),  # stride 4
            conv3x3(c4, c4), lrelu(),
            conv3x3(c4, c8, stride=2), lrelu(),  # stride 8
            conv3x3(c8, c8),
        )
        self.out_channels = c8

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image * 2 - 1)
