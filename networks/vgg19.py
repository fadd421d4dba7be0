"""VGG19 up to relu4_1 in torchvision's layout: AdaIN's encoder (Huang & Belongie 2017).

StyleFusion's model never runs it. Two tools do: the perceptual losses of training
(``training/perceptual.py`` loads ImageNet weights into it from the Hub) and the AdaIN speed reference
of ``stylefusion bench`` (``bench/adain.py``, random weights).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import tapped

# VGG19 taps relu1_1, relu2_1, relu3_1, relu4_1 (torchvision indices into vgg19().features).
VGG19_TAPS = (1, 6, 11, 20)


class VGG19Features(nn.Module):
    """Φ = VGG19 to relu4_1 (AdaIN's encoder); ImageNet-normalised input. ``features`` is the plain trunk."""

    def __init__(self, taps=VGG19_TAPS):
        super().__init__()
        # Imported here, not at the top: torchvision's import pulls in torch._dynamo (seconds), and only the
        # vgg19 perceptual option and bench's AdaIN reference ever build this network.
        import torchvision

        self.features = torchvision.models.vgg19().features[: max(taps) + 1]
        self.taps = tuple(taps)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.channels = [64, 128, 256, 512][: len(taps)]

    def forward(self, x):
        return tapped(self.features, (x - self.mean) / self.std, self.taps)
