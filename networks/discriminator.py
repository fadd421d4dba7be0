"""Judging: the style-conditioned multi-scale discriminator D (training only; never shipped in model.safetensors).

The paper asks D whether "the generated image truly reflects the chosen style". D answers two
questions from one PatchGAN trunk per scale (the image at full, 1/2, … resolution through 4x4
stride-2 convs with LeakyReLU, as MUNIT and pix2pixHD):

* **realism** — is x a painting at all? logits from a 3x3 conv head;
* **style match** — does x carry the style of the reference painting r? A projection discriminator
  (Miyato & Koyama 2018): r goes through the same trunk, its features are pooled to channel means and
  stds and projected to an embedding e(r); the match logit at each position is ⟨φ(x), e(r)⟩/√C plus
  a bias. Real pairs are two crops of one painting; fakes are (G(photo, r), another crop of r) and,
  so that D must look at r, crops of two different paintings.

Training maximises E[log D(x)] + E[log(1 − D(G(z)))] for each question (``training/losses.py``).

Default config (32/64/128/256 channels, 2 scales): ≈ 1.1 GFLOPs for a 256² image per image judged;
≈ 1.65 M parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import StyleFusionConfig
from .layers import mean_std


class ScaleCritic(nn.Module):
    """D at one scale: a PatchGAN trunk, a realism head and a projection head for the style match."""

    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += [nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = width
        self.trunk = nn.Sequential(*layers)
        self.realism = nn.Conv2d(c_in, 1, 3, 1, 1)
        self.embed = nn.Linear(2 * c_in, c_in)
        self.match_bias = nn.Conv2d(c_in, 1, 3, 1, 1)

    def forward(self, features: torch.Tensor, reference: torch.Tensor | None):
        """Trunk features of the image (and of the reference) → (realism logits, match logits or None)."""
        realism = self.realism(features)
        if reference is None:
            return realism, None
        e = self.embed(mean_std(reference))[:, :, None, None]
        match = (features * e).sum(1, keepdim=True) / math.sqrt(features.shape[1]) + self.match_bias(features)
        return realism, match


class Discriminator(nn.Module):
    """D: image [B,3,H,W] in 0..1 (+ reference painting [B,3,h,w]) → (realism logit maps per scale,
    match logit maps per scale, or None without a reference)."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        self.scales = nn.ModuleList(ScaleCritic(config.disc_widths) for _ in range(config.disc_scales))

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Trunk features of ``image`` at every scale."""
        x = image * 2 - 1
        out = []
        for i, critic in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 2)
            out.append(critic.trunk(x))
        return out

    def forward(self, image: torch.Tensor, reference: torch.Tensor | None = None):
        refs = self.features(reference) if reference is not None else [None] * len(self.scales)
        realism, match = [], []
        for critic, f, r in zip(self.scales, self.features(image), refs):
            a, b = critic(f, r)
            realism.append(a)
            match.append(b)
        return realism, (match if reference is not None else None)
