"""Judging: the multi-scale discriminator D (training only; never shipped in model.safetensors).

D(x) gives a grid of real/fake logits per scale (PatchGAN, as MUNIT and pix2pixHD): the image at
full, 1/2, … resolution, each through 4x4 stride-2 convs with LeakyReLU and a 3x3 conv to one
channel. Training maximises the paper's 𝓛(G,D) over D (the objective: ``training/losses.py``).

Default config (32/64/128/256 channels, 2 scales): ≈ 1.07 GFLOPs for a 256² image; ≈ 1.38 M parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import StyleFusionConfig


class PatchDiscriminator(nn.Module):
    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += [nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = width
        layers.append(nn.Conv2d(c_in, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    """D: image [B,3,H,W] in 0..1 → list of logit maps, one per scale."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(config.disc_widths) for _ in range(config.disc_scales))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = image * 2 - 1
        logits = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 2)
            logits.append(d(x))
        return logits
