"""Style description: the style encoder E_s, image [B,3,H,W] (+ optional mask) → style vector s [B,D].

    s = [ MLP(log statistics of frozen VGG16 features) | palette ]      D = style_dim

E_s describes a painting by the channel means and standard deviations of a frozen ImageNet VGG16
(HED's, see ``training/perceptual.py``) at relu1_1, relu2_1, relu3_1 and relu4_1 — the statistics
AdaIN and Gatys et al. use as "style" — and maps their logarithms to D − 6 numbers with a small
MLP. Pretrained statistics separate paintings it never saw in training; a style encoder learnt from
a few hundred paintings did not. The last 6 numbers are the painting's palette, exactly: YCbCr
mean and log standard deviation. G recolours the photo with them (see ``generator.py``), so colour
never has to be learnt, and mixing styles mixes palettes.

The VGG16 layers ship inside ``model.safetensors`` (2.9 M parameters, frozen); the image is first
resized so its area is about ``style_image_size``² (aspect kept): style is a global property, so
E_s costs the same for any input size (≈ 13 GMACs at 256², about 0.2 s on 2 CPU cores).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .color import RGB_TO_YCC, rgb_moments, rgb_to_ycbcr
from .config import StyleFusionConfig
from .layers import channel_stats, lrelu

#: VGG16's convs up to conv4_1 as (Keras block, layer name) in HED's weight file, and their widths.
VGG16_CONVS = ((1, "conv2d"), (1, "conv2d_1"), (2, "conv2d"), (2, "conv2d_1"),
               (3, "conv2d"), (3, "conv2d_1"), (3, "conv2d_2"), (4, "conv2d"))
VGG16_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512)
#: Convs after which VGG16 max-pools (conv1_2, conv2_2, conv3_3).
VGG16_POOL_AFTER = (1, 3, 6)
#: Convs whose ReLU outputs are tapped: relu1_1, relu2_1, relu3_1, relu4_1.
VGG16_TAPS = (0, 2, 4, 7)
#: YCbCr mean (3) and log std (3) at the end of every style vector.
PALETTE_DIMS = 6
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


def palette(image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """YCbCr mean and log std of ``image`` [B,3,H,W] (where ``mask`` [B,1,H,W] > 0) → [B,6].

    Unmasked, from the exact colour moments at full resolution (blocked: no full-size temporary),
    the same moments G's palette step measures the photo with, so a picture's own palette maps it
    onto itself.
    """
    if mask is None:
        mean_rgb, cov_rgb = rgb_moments(image)
        c = RGB_TO_YCC.to(mean_rgb)
        mean = mean_rgb @ c.t()
        std = torch.einsum("ij,bjk,ik->bi", c, cov_rgb, c).clamp_min(1e-6).sqrt()
    else:
        mean, std = channel_stats(rgb_to_ycbcr(image.float()), mask.float(), eps=1e-6)
        mean, std = mean.flatten(1), std.flatten(1)
    return torch.cat([mean, std.clamp_min(1e-3).log()], dim=1)


class StyleEncoder(nn.Module):
    """E_s: s = E_s(x, mask). Masked pooling takes the style only where mask > 0."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        self.features = VGG16Features(VGG16_TAPS[: config.style_vgg_stages])
        self.features.requires_grad_(False)  # pretrained and frozen: never trained with the model
        stats = 2 * sum(self.features.channels)
        self.to_vector = nn.Sequential(
            nn.Linear(stats, config.style_hidden), lrelu(),
            nn.Linear(config.style_hidden, config.style_dim - PALETTE_DIMS),
        )
        self.image_size = config.style_image_size
        self.stride = 8

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) the image is resized to: area ≈ style_image_size², aspect kept, multiple of 8."""
        scale = self.image_size / math.sqrt(height * width)

        def snap(v: float) -> int:
            return max(self.stride, int(round(v * scale / self.stride)) * self.stride)

        return snap(height), snap(width)

    def prepare(self, image: torch.Tensor, mask: torch.Tensor | None = None):
        """Resize ``image`` (and ``mask``) to the working size; resampled in fp32 (antialiased
        resizing has no bf16/fp16 kernels on every device)."""
        size = self.working_size(*image.shape[-2:])
        if tuple(image.shape[-2:]) != size:
            image = F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False, antialias=True).to(image.dtype)
        if mask is not None and tuple(mask.shape[-2:]) != size:
            mask = F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=False).to(image.dtype)
        return image, mask

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """image [B,3,H,W] in 0..1, mask [B,1,H,W] in 0..1 or None → s [B,D]."""
        colours = palette(image) if mask is None else None  # at full resolution when it can be
        image, mask = self.prepare(image, mask)
        return self.from_statistics(self.statistics(self.features(image), image, mask, colours))

    @staticmethod
    def statistics(features: list[torch.Tensor], image: torch.Tensor, mask: torch.Tensor | None = None,
                   colours: torch.Tensor | None = None) -> torch.Tensor:
        """What E_s reads of a picture, [B, 2·ΣC + 6] in float32: log(1 + mean) and log(std) of each
        VGG16 feature map (where ``mask`` > 0), then the palette (``colours``, or that of ``image``).
        Training caches these."""
        stats = []
        for f in features:
            m = None if mask is None else F.interpolate(mask.float(), size=f.shape[-2:], mode="area")
            mean, std = channel_stats(f.float(), m)
            stats += [mean.flatten(1).log1p(), std.flatten(1).log()]
        return torch.cat(stats + [palette(image, mask) if colours is None else colours.float()], dim=1)

    def from_statistics(self, stats: torch.Tensor) -> torch.Tensor:
        """s [B,D] from ``statistics()``: the MLP of the feature statistics, then the palette as it is."""
        features, pal = stats[:, :-PALETTE_DIMS], stats[:, -PALETTE_DIMS:]
        learned = self.to_vector(features.to(self.to_vector[0].weight.dtype))
        return torch.cat([learned, pal.to(learned.dtype)], dim=1)


def split_statistics(stats: torch.Tensor, channels: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``StyleEncoder.statistics`` back to (mean, std) [B,C] per VGG16 layer (the style loss's targets)."""
    out, i = [], 0
    for c in channels:
        out.append((stats[:, i:i + c].expm1(), stats[:, i + c:i + 2 * c].exp()))
        i += 2 * c
    return out
