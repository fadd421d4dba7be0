"""Feature extraction: the content encoder E_c, image [B,3,H,W] → content code c [B,C+3,H/8,W/8].

Trained from scratch with the rest of the model (MUNIT's content encoder, slimmed for CPU speed):
a 2x pixel-unshuffle, a stride-2 conv to stride 4, a conv, a stride-2 conv to stride 8 and a final
conv give C learned channels (structure: edges, shapes, textures of the photo). The last 3
channels are the image's colour layout, an 8x8 average (the "thumbnail"): G repaints it in the
style's palette and renders detail and texture over it, so the layout of the photo survives even a
briefly trained G, and fusing two codes also fuses their colour layouts. No normalisation layers,
so the network is local and can run tile by tile exactly.

``fused`` (inference) runs the first two steps as one conv on the raw image — see
``_folded_first_conv`` — the same function within float rounding, about 3x faster.
``encode`` is E_c as the API runs it: the mirrored margin around the picture, and tiles for huge ones.

Cost with the default config (32/96 channels): ≈ 2.5 k MACs per input pixel ≈ 5.0 GFLOPs per
megapixel; ≈ 0.12 M parameters. Receptive field: 51 px (radius 25).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import StyleFusionConfig
from .layers import conv3x3, lrelu
from .tiling import Progress, memory_format_of

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
        self.learned_channels = c8
        self.out_channels = c8 + 3

    def forward(self, image: torch.Tensor, fused: bool = False) -> torch.Tensor:
        """[B,3,H,W] → [B,C+3,H/8,W/8]; ``fused`` (no autograd) returns it channels-last."""
        thumbnail = F.avg_pool2d(image, CONTENT_STRIDE)
        if fused and image.shape[-2] % 4 == 0 and image.shape[-1] % 4 == 0:
            code = self.net[2:](self._folded_first_conv(image))
            # Both halves channels-last, so the joined code is too (G's fused route works in it).
            thumbnail = thumbnail.contiguous(memory_format=torch.channels_last)
        else:
            code = self.net(image * 2 - 1)
        return torch.cat([code, thumbnail.to(code.dtype)], dim=1)

    def encode(self, image: torch.Tensor, tile_size: int = 0, progress: Progress | None = None,
               fused: bool = True) -> torch.Tensor:
        """The content code of a whole picture [B,3,H,W] (any size): E_c on the picture with its
        mirrored MARGIN (``pad_to_stride``), [B,C+3,(H+2·MARGIN)/8↑,(W+2·MARGIN)/8↑]. ``tile_size`` > 0
        runs it tile by tile (each with a CONTENT_HALO, so the result is the same) to bound memory."""
        hp, wp = padded_size(*image.shape[-2:])
        if not tile_size or max(hp, wp) <= tile_size:
            return self(pad_to_stride(image).to(self.net[1].weight), fused)
        return _tiled_cells(lambda *region: self.encode_region(image, *region, fused=fused), hp, wp, tile_size, progress)

    def encode_region(self, image: torch.Tensor, top: int, left: int, bottom: int, right: int,
                      fused: bool = True) -> torch.Tensor:
        """The code of rows top..bottom and columns left..right (px, multiples of 8) of the padded
        picture, exactly as ``encode`` computes it: E_c runs on the region with a CONTENT_HALO."""
        hp, wp = padded_size(*image.shape[-2:])
        t, l = max(0, top - CONTENT_HALO), max(0, left - CONTENT_HALO)
        b, r = min(hp, bottom + CONTENT_HALO), min(wp, right + CONTENT_HALO)
        code = self(padded_crop(image, t, l, b, r).to(self.net[1].weight), fused)
        s = CONTENT_STRIDE
        return code[..., (top - t) // s:(bottom - t) // s, (left - l) // s:(right - l) // s]

    def _folded_first_conv(self, image: torch.Tensor) -> torch.Tensor:
        """``net[:2](image * 2 - 1)`` without touching the full-resolution image more than once.

        PixelUnshuffle(2) + a 3x3 stride-2 conv equals a 6x6 stride-4 conv on the image (tap
        (2·di + a, 2·dj + b) of channel c is tap (di, dj) of unshuffled channel 4c + 2a + b), and
        ``2x − 1`` folds into it: weight 2W, bias b − ΣW. Only the top row and left column of the
        output read the zero padding (the last tap ends on the image's last pixel when H, W are
        multiples of 4); there the original added nothing for padded taps instead of −W, so they get
        ΣW over those taps back. The result is channels-last, which the later convs run faster in.
        """
        first = self.net[1]
        w = first.weight  # [C, 12, 3, 3]
        c = w.shape[0]
        w6 = w.reshape(c, 3, 2, 2, 3, 3).permute(0, 1, 4, 2, 5, 3).reshape(c, 3, 6, 6)  # [C, 3, 2di+a, 2dj+b]
        bias = w.sum(dim=(1, 2, 3)).neg_()
        if first.bias is not None:
            bias = bias + first.bias
        x = F.conv2d(image, (w6 * 2).contiguous(memory_format=torch.channels_last), bias, 4, 2)
        top, left = w6[:, :, :2].sum(dim=(1, 2, 3)), w6[:, :, :, :2].sum(dim=(1, 2, 3))
        corner = w6[:, :, :2, :2].sum(dim=(1, 2, 3))
        x[:, :, 0, :] += top[:, None]
        x[:, :, :, 0] += left[:, None]
        x[:, :, 0, 0] -= corner
        return x


# -- padding: the mirrored margin around every picture E_c reads --------------------------------------
#: Mirrored margin (px, a multiple of the stride) added around every image before E_c and cropped
#: after G: the networks' zero padding otherwise paints frame lines along the picture's edges.
MARGIN = 32


def pad_to_stride(image: torch.Tensor) -> torch.Tensor:
    """Mirror a MARGIN around ``image``, then extend right/bottom to a multiple of the stride."""
    h, w = image.shape[-2:]
    ph, pw = (-h) % CONTENT_STRIDE, (-w) % CONTENT_STRIDE
    image = F.pad(image, (MARGIN, MARGIN, MARGIN, MARGIN), mode="reflect")
    return F.pad(image, (0, pw, 0, ph), mode="replicate") if ph or pw else image


def padded_size(h: int, w: int) -> tuple[int, int]:
    """Height and width of ``pad_to_stride``'s result for an h×w image."""
    return h + 2 * MARGIN + (-h) % CONTENT_STRIDE, w + 2 * MARGIN + (-w) % CONTENT_STRIDE


def padded_index(start: int, stop: int, size: int, device) -> torch.Tensor:
    """Source rows (or columns) of rows start..stop of ``pad_to_stride``'s result, for an axis of ``size``."""
    i = torch.arange(start, stop, device=device).clamp_(max=size + 2 * MARGIN - 1) - MARGIN  # replicate
    i = torch.where(i < 0, -i, i)  # reflect (without the edge pixel), as F.pad's "reflect"
    return torch.where(i > size - 1, 2 * (size - 1) - i, i)


def padded_crop(image: torch.Tensor, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    """``pad_to_stride(image)[..., top:bottom, left:right]`` without padding the whole image.

    Tiled rendering of a huge picture must not hold a padded full-size copy (or two) of it.
    """
    h, w = image.shape[-2:]
    rows = padded_index(top, bottom, h, image.device)
    cols = padded_index(left, right, w, image.device)
    return image.index_select(-2, rows).index_select(-1, cols)


def _tiled_cells(region, height: int, width: int, tile: int, progress: Progress | None) -> torch.Tensor:
    """Run a stride-8 ``region(top, left, bottom, right)`` over tiles without overlap (its halo makes
    tiles exact), writing each into one code in place: no per-row and final concatenated copies."""
    s = CONTENT_STRIDE
    tile = max(s * 8, tile // s * s)
    total = math.ceil(height / tile) * math.ceil(width / tile)
    done = 0
    code = None
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            piece = region(top, left, bottom, right)
            if code is None:
                code = piece.new_empty(piece.shape[0], piece.shape[1], height // s, width // s)
                code = code.contiguous(memory_format=memory_format_of(piece))
            code[..., top // s:bottom // s, left // s:right // s] = piece
            done += 1
            if progress is not None:
                progress(done, total)
    return code
