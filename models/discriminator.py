"""Judging: the style-conditioned multi-scale discriminator D (training only; never shipped).

The paper asks D two questions, and D answers both from one PatchGAN trunk per scale (the image at
full, 1/2, … resolution through 4x4 stride-2 convs with LeakyReLU, as MUNIT and pix2pixHD):

* **realism** — is x a painting at all? ``realism`` logits from a 3x3 conv head;
* **style match** — does x truly carry the style of the reference painting r? A projection
  discriminator (Miyato & Koyama 2018): r goes through the same trunk, its features are pooled to
  channel means and stds and projected to an embedding e(r); the ``match`` logit at each position is
  ⟨φ(x), e(r)⟩/√C plus a bias. Real pairs are two crops of one painting; fakes are
  (G(photo, r), another crop of r) and, so that D must look at r, two different paintings.

Training maximises E[log D(x)] + E[log(1 − D(G(z)))] for each question (``training/losses.py``),
with an R1 penalty on real images.

Default config (32/64/128/256 channels, 2 scales): ≈ 1.1 GFLOPs for a 256² image per image judged;
≈ 1.65 M parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import StyleFusionConfig
from .layers import channel_stats


class PatchTrunk(nn.Module):
    """4x4 stride-2 convs with LeakyReLU: image → feature map at stride 2^len(widths)."""

    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += [nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = width
        self.net = nn.Sequential(*layers)
        self.width = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ScaleCritic(nn.Module):
    """D at one scale: a trunk, a realism head and a projection head for the style match."""

    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        self.trunk = PatchTrunk(widths)
        c = self.trunk.width
        self.realism = nn.Conv2d(c, 1, 3, 1, 1)
        self.embed = nn.Linear(2 * c, c)
        self.match_bias = nn.Conv2d(c, 1, 3, 1, 1)

    def reference_embedding(self, features: torch.Tensor) -> torch.Tensor:
        mean, std = channel_stats(features)
        return self.embed(torch.cat([mean, std], dim=1).flatten(1))  # [B, C]

    def forward(self, features: torch.Tensor, reference: torch.Tensor | None):
        realism = self.realism(features)
        if reference is None:
            return realism, None
        e = self.reference_embedding(reference)[:, :, None, None]
        match = (features * e).sum(1, keepdim=True) / math.sqrt(features.shape[1]) + self.match_bias(features)
        return realism, match


class Discriminator(nn.Module):
    """D: image [B,3,H,W] in 0..1 (+ reference painting [B,3,h,w]) → per scale (realism, match) logit maps."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        self.scales = nn.ModuleList(ScaleCritic(config.disc_widths) for _ in range(config.disc_scales))

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Trunk features of ``image`` at every scale (computed once, reused as image or reference)."""
        x = image * 2 - 1
        out = []
        for i, critic in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 2)
            out.append(critic.trunk(x))
        return out

    def judge(self, features: list[torch.Tensor], reference: list[torch.Tensor] | None = None):
        """(realism logits per scale, match logits per scale or None) from ``features()`` outputs."""
        realism, match = [], []
        for critic, f, r in zip(self.scales, features, reference or [None] * len(features)):
            a, b = critic(f, r)
            realism.append(a)
            match.append(b)
        return realism, (match if reference is not None else None)

    def forward(self, image: torch.Tensor, reference: torch.Tensor | None = None):
        ref = None if reference is None else self.features(reference)
        return self.judge(self.features(image), ref)
