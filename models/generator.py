"""Generation: the generator G renders (content code c, style vector s, noise z) → image.

    G(c, s, z) = render(body(c, s), s, z)

``body`` runs at stride 8: AdaIN residual blocks whose γ, β come from s through a mapping MLP
(MUNIT / StarGAN v2); AdaIN needs global feature statistics, and at stride 8 the whole map is small
enough to keep in memory even for a 4096² output. ``render`` is purely local: a 1x1 conv +
pixel-shuffle to stride 4, StyleGAN2 modulated convs with per-pixel noise z (texture variation),
and a sub-pixel conv straight to full-resolution RGB. Being local, ``render`` can run tile by tile
with identical results, so memory is bounded by the tile.

Default config: ≈ 4.3 k MACs per output pixel ≈ 8.6 GFLOPs per megapixel; ≈ 0.40 M parameters.
Receptive field of ``render``: 20 output px (radius 10) — the tiling halo below is larger.

Training plays the min-max game of the paper with the discriminator D (see ``discriminator.py``):
min_G max_D 𝓛(G,D) = E[log D(x)] + E[log(1 − D(G(z)))].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import StyleFusionConfig
from .layers import AdaINResBlock, ModulatedConv, fast_inference, lrelu

#: Radius in output pixels that ``render`` needs around a tile (multiple of 8; > its receptive field).
RENDER_HALO = 32


class Generator(nn.Module):
    """G: content code [B,C,h,w] (stride 8) + style vector [B,D] + noise → image [B,3,8h,8w] in 0..1."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        c8, c4 = config.content_width, config.generator_width_s4
        self.blocks = nn.ModuleList(AdaINResBlock(c8) for _ in range(config.generator_res_blocks))
        self.up = nn.Sequential(nn.Conv2d(c8, 4 * c4, 1), nn.PixelShuffle(2), lrelu())
        self.mod_convs = nn.ModuleList(ModulatedConv(c4, c4) for _ in range(config.generator_modulated_convs))
        self.to_rgb = nn.Sequential(nn.Conv2d(c4, 3 * 16, 3, 1, 1), nn.PixelShuffle(4))

        # Mapping network: s → (γ, β per AdaIN layer; modulation per modulated conv; RGB bias).
        self.param_sizes = [b.n_params for b in self.blocks] + [m.n_params for m in self.mod_convs] + [3]
        layers: list[nn.Module] = []
        width = config.style_dim
        for _ in range(config.mapping_layers):
            layers += [nn.Linear(width, config.mapping_width), nn.LeakyReLU(0.2)]
            width = config.mapping_width
        self.mapping = nn.Sequential(*layers)
        self.to_params = nn.Linear(width, sum(self.param_sizes))
        nn.init.normal_(self.to_params.weight, std=0.01)  # start near identity: γ≈1, β≈0, m≈1
        nn.init.zeros_(self.to_params.bias)
        self.n_noise = len(self.mod_convs)

    # -- style → per-layer parameters ------------------------------------------------------------
    def style_params(self, style: torch.Tensor) -> list[torch.Tensor]:
        """s [B,D] → list of [B,n_i,1,1], one entry per styled layer."""
        flat = self.to_params(self.mapping(style))
        return [p[:, :, None, None] for p in flat.split(self.param_sizes, dim=1)]

    @staticmethod
    def blend_params(params_a, params_b, mask: torch.Tensor) -> list[torch.Tensor]:
        """Per-region style: parameters of style a where mask=0, of style b where mask=1.

        ``mask`` is [B,1,H,W] at output resolution; it is resampled to each layer's resolution
        inside ``body``/``render`` (parameters become spatial maps [B,n,h,w]).
        """
        return [(a, b, mask) for a, b in zip(params_a, params_b)]

    @staticmethod
    def _at(param, size: tuple[int, int]) -> torch.Tensor:
        if isinstance(param, tuple):  # (a, b, mask) from blend_params
            a, b, mask = param
            m = nn.functional.interpolate(mask, size=size, mode="bilinear", align_corners=False)
            return a + (b - a) * m
        return param

    # -- the two halves of G ---------------------------------------------------------------------
    def body(self, content: torch.Tensor, params) -> torch.Tensor:
        """Stride-8 AdaIN blocks (global statistics; run on the whole map)."""
        h = content
        for block, p in zip(self.blocks, params):
            h = block(h, self._at(p, h.shape[-2:]))
        return h

    def render(self, h: torch.Tensor, params, noise: list[torch.Tensor] | None) -> torch.Tensor:
        """Local decoder, stride 8 → full resolution. ``noise``: one [1|B,1,2h,2w] map per modulated conv."""
        params = params[len(self.blocks):]
        if fast_inference() and not isinstance(params[-1], tuple):
            return self._render_inference(h, params, noise)
        x = self.up(h)
        for i, conv in enumerate(self.mod_convs):
            x = conv(x, self._at(params[i], x.shape[-2:]), None if noise is None else noise[i])
        rgb = self.to_rgb(x)
        rgb = rgb + self._at(params[-1], rgb.shape[-2:])
        return torch.tanh(rgb) * 0.5 + 0.5

    def _render_inference(self, h: torch.Tensor, params, noise) -> torch.Tensor:
        """``render`` without autograd, in fewer passes over the full-resolution output.

        0.5·tanh(t) + 0.5 = sigmoid(2t), and 2t comes straight out of ``to_rgb`` with weights and
        bias doubled (exact) and the RGB bias added to the conv bias (pixel-shuffle channel
        16c + k feeds RGB channel c). So the only full-size passes are one in-place sigmoid and the
        pixel-shuffle copy. Channels-last throughout (oneDNN's fast layout on CPU).
        """
        x = self.up(h.contiguous(memory_format=torch.channels_last))
        for i, conv in enumerate(self.mod_convs):
            x = conv(x, self._at(params[i], x.shape[-2:]), None if noise is None else noise[i])
        to_rgb = self.to_rgb[0]
        factor = self.to_rgb[1].upscale_factor ** 2
        rgb_bias = params[-1].flatten(1).repeat_interleave(factor, dim=1)  # [B, 3·16]
        if to_rgb.bias is not None:
            rgb_bias = rgb_bias + to_rgb.bias
        weight = (to_rgb.weight * 2).contiguous(memory_format=torch.channels_last)
        if rgb_bias.shape[0] == 1:
            y = F.conv2d(x, weight, rgb_bias[0] * 2, 1, 1)
        else:
            y = F.conv2d(x, weight, None, 1, 1).add_((rgb_bias * 2)[:, :, None, None])
        return _pixel_shuffle_channels_last(y.sigmoid_(), self.to_rgb[1].upscale_factor)

    def forward(self, content: torch.Tensor, style: torch.Tensor, noise: list[torch.Tensor] | None = None):
        params = self.style_params(style)
        return self.render(self.body(content, params), params, noise)


def _pixel_shuffle_channels_last(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``pixel_shuffle(x, factor)`` [B,C·f²,h,w] → [B,C,f·h,f·w], returned channels-last.

    Channels-last output is the memory layout of ComfyUI's IMAGE [B,H,W,C], so converting it costs
    no copy; writing it is also faster than ``pixel_shuffle`` on a channels-last input.
    """
    b, c, h, w = x.shape
    c_out = c // factor**2
    out = torch.empty(b, h * factor, w * factor, c_out, dtype=x.dtype, device=x.device)
    src = x.permute(0, 2, 3, 1).reshape(b, h, w, c_out, factor, factor)  # a view when x is channels-last
    out.view(b, h, factor, w, factor, c_out).copy_(src.permute(0, 1, 4, 2, 5, 3))
    return out.permute(0, 3, 1, 2)


def make_noise(
    seed: int, height: int, width: int, count: int, device=None, dtype=torch.float32
) -> list[torch.Tensor]:
    """The noise z for an output of ``height``×``width`` px: ``count`` maps [1,1,H/4,W/4].

    Drawn on the CPU from ``seed`` so the same seed gives the same noise on every device, and
    shared by all images of a batch (video frames stay consistent).
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    maps = [torch.randn(1, 1, height // 4, width // 4, generator=gen) for _ in range(count)]
    return [m.to(device=device, dtype=dtype) for m in maps]
