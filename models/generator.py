"""Generation: the generator G renders (content code c, style vector s, noise z, photo x) → image.

    G(c, s, z, x) = P_s(x) + R(c, s, z, P_s(x))

``P_s`` is the palette step: the photo x recoloured, per pixel, to the style's palette — its
YCbCr mean and std become the painting's (Reinhard et al.'s colour transfer; s ends with the
palette, see ``style_encoder.py``). It is one 3x4 affine colour map per image, so it runs tile by
tile at full resolution and keeps every edge of the photo. ``R`` is the learnt residual — brush
marks, texture, simplification — painted over it:

* ``body`` (stride 8, global statistics, run on the whole map): AdaIN residual blocks on the
  content code whose γ, β come from s through a mapping MLP (MUNIT / StarGAN v2), and the colour
  map of each image (from the photo's colour moments and the style's palette).
* ``render`` (purely local, so it runs tile by tile with identical results): smooth ×2 upsampling
  (1x1 conv + bilinear) to stride 4, StyleGAN2 modulated convs with per-pixel noise z there, up to
  stride 2, where the recoloured photo joins (pixel-unshuffled, so the residual can follow — and
  cancel — the photo's own detail), more modulated convs, and a sub-pixel conv (no per-sub-pixel
  bias, so no fixed 2x2 pattern can be learnt) to the full-resolution RGB residual.

At zero residual G is exactly a colour transfer, which is where training starts.

Default config: ≈ 11.8 k MACs per output pixel ≈ 23.6 GFLOPs per megapixel (E_c adds 5.0); ≈ 0.72 M
parameters. Receptive field of ``render``: about 36 output px (radius 18) — the tiling halo is larger.

Training plays the min-max game of the paper with the discriminator D (see ``discriminator.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .color import RGB_TO_YCC, YCC_TO_RGB, rgb_moments
from .config import StyleFusionConfig
from .layers import AdaINResBlock, ModulatedConv, SmoothUp
from .style_encoder import PALETTE_DIMS

#: Radius in output pixels that ``render`` needs around a tile (multiple of 8; > its receptive field).
RENDER_HALO = 48


class Generator(nn.Module):
    """G: content code [B,C,h,w] (stride 8) + style vector [B,D] + noise + photo [B,3,8h,8w] → image."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        c8, c4, c2 = config.content_width, config.generator_width_s4, config.generator_width_s2
        self.learned_channels = c8
        self.blocks = nn.ModuleList(AdaINResBlock(c8) for _ in range(config.generator_res_blocks))
        self.up = SmoothUp(c8, c4)
        self.up2 = SmoothUp(c4, c2)
        n_s4, n_s2 = config.generator_modulated_convs, config.generator_convs_s2
        photo = 3 * 4  # the recoloured photo, pixel-unshuffled to stride 2
        self.mod_convs = nn.ModuleList(
            [ModulatedConv(c4, c4) for _ in range(n_s4)]
            + [ModulatedConv(c2 + photo if i == 0 else c2, c2) for i in range(n_s2)]
        )
        #: Stride of each modulated conv's input (and of its noise map).
        self.noise_strides = [4] * n_s4 + [2] * n_s2
        self.to_rgb = nn.Sequential(nn.Conv2d(c2, 3 * 4, 3, 1, 1, bias=False), nn.PixelShuffle(2))
        nn.init.zeros_(self.to_rgb[0].weight)  # start as the colour transfer; learn the residual on top

        # Mapping network: s → (γ, β per AdaIN layer; modulation per modulated conv; RGB bias of the
        # residual). The palette is not mapped: it is the last 6 numbers of s, used as they are.
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

    # -- style → per-layer parameters ------------------------------------------------------------
    def style_params(self, style: torch.Tensor) -> list[torch.Tensor]:
        """s [B,D] → list of [B,n_i,1,1]: AdaIN blocks, the palette [B,6,1,1], modulated convs, RGB bias."""
        flat = self.to_params(self.mapping(style)).split(self.param_sizes, dim=1)
        n = len(self.blocks)
        params = list(flat[:n]) + [style[:, -PALETTE_DIMS:]] + list(flat[n:])
        return [p[:, :, None, None] for p in params]

    @staticmethod
    def blend_params(params_a, params_b, mask: torch.Tensor) -> list[tuple]:
        """Per-region style: parameters of style a where mask=0, of style b where mask=1.

        ``mask`` is [B,1,H,W] at output resolution; each layer resamples it to its own resolution.
        """
        return [(a, b, mask) for a, b in zip(params_a, params_b)]

    @staticmethod
    def _at(param, size: tuple[int, int]) -> torch.Tensor:
        if isinstance(param, tuple):  # (a, b, mask) from blend_params
            a, b, mask = param
            m = F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
            return a + (b - a) * m
        return param

    # -- the palette step ------------------------------------------------------------------------
    @staticmethod
    def color_map(photo: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
        """[B,3,4] affine RGB map taking ``photo``'s YCbCr mean/std to ``palette`` [B,6,1,1].

        In YCbCr: y' = (y − μ_x)·σ_p/σ_x + μ_p; YCbCr is linear in RGB (y = C·rgb), so
        rgb' = C⁻¹·diag(k)·C·rgb + C⁻¹·(μ_p − k·μ_x) with k = σ_p/σ_x. The photo's moments are
        exact (``rgb_moments``: blocked, no full-size temporaries).
        """
        mean_rgb, cov_rgb = rgb_moments(photo)  # [B,3], [B,3,3] in fp32
        c, c_inv = RGB_TO_YCC.to(mean_rgb), YCC_TO_RGB.to(mean_rgb)
        mean_x = mean_rgb @ c.t()
        std_x = torch.einsum("ij,bjk,ik->bi", c, cov_rgb, c).clamp_min(1e-8).sqrt()
        p = palette.flatten(1).float()
        k = p[:, 3:].clamp(-8, 2).exp() / std_x.clamp_min(1e-3)
        matrix = c_inv @ (k[:, :, None] * c)  # [B,3,3]
        offset = (p[:, :3] - k * mean_x) @ c_inv.t()
        return torch.cat([matrix, offset[:, :, None]], dim=2)

    @staticmethod
    def apply_color_map(photo: torch.Tensor, cmap) -> torch.Tensor:
        """``photo`` [B,3,H,W] through the colour map(s) [B|1,3,4] (or a region pair (a, b, mask))."""
        if isinstance(cmap, tuple):
            a, b, mask = cmap
            base_a, base_b = Generator.apply_color_map(photo, a), Generator.apply_color_map(photo, b)
            return base_a + (base_b - base_a) * F.interpolate(mask, size=photo.shape[-2:], mode="bilinear", align_corners=False)
        cmap = cmap.to(photo.dtype)
        if cmap.shape[0] == 1:  # one map for the batch: a 1x1 conv
            return F.conv2d(photo, cmap[0, :, :3, None, None], cmap[0, :, 3])
        return torch.einsum("bij,bjhw->bihw", cmap[:, :, :3], photo) + cmap[:, :, 3, None, None]

    # -- the two halves of G ---------------------------------------------------------------------
    def body(self, content: torch.Tensor, params, photo: torch.Tensor):
        """Stride 8, global statistics, on the whole map → (styled code, colour map(s)).

        ``photo`` is the whole picture the code was made from (for its colour moments only).
        Region styles run the AdaIN blocks once per style and blend the results by the mask: AdaIN's
        statistics are global, so one pass with spatially mixed parameters would let each region's
        style leak into the other through them.
        """
        n = len(self.blocks)
        head, palette = params[:n], params[n]
        h = content[:, : self.learned_channels]
        regions = [p for p in params[: n + 1] if isinstance(p, tuple)]
        if not regions:
            return self._blocks(h, head), self.color_map(photo, palette)
        mask = regions[0][2]
        pick = (lambda i: [p[i] if isinstance(p, tuple) else p for p in head])
        a, b = self._blocks(h, pick(0)), self._blocks(h, pick(1))
        m = F.interpolate(mask, size=a.shape[-2:], mode="bilinear", align_corners=False)
        pal = palette if isinstance(palette, tuple) else (palette, palette, mask)
        cmaps = (self.color_map(photo, pal[0]), self.color_map(photo, pal[1]), mask)
        return a + (b - a) * m, cmaps

    def _blocks(self, h: torch.Tensor, params) -> torch.Tensor:
        for block, p in zip(self.blocks, params):
            h = block(h, p)
        return h

    def render(self, styled, params, noise: list[torch.Tensor] | None, photo: torch.Tensor) -> torch.Tensor:
        """Local decoder, stride 8 → full resolution: recoloured ``photo`` + residual, not clamped.

        ``styled`` = body's (code, colour map); ``photo`` [B,3,8h,8w] is the matching region of the
        photo; ``noise``: one [1|B,1,H/s,W/s] map per modulated conv.
        """
        code, cmap = styled
        params = params[len(self.blocks) + 1:]
        base = self.apply_color_map(photo, cmap)
        x = self.up(code)
        for i, conv in enumerate(self.mod_convs):
            if self.noise_strides[i] == 2 and (i == 0 or self.noise_strides[i - 1] == 4):
                x = torch.cat([self.up2(x), F.pixel_unshuffle(base * 2 - 1, 2)], dim=1)
            x = conv(x, self._at(params[i], x.shape[-2:]), None if noise is None else noise[i])
        rgb = self.to_rgb(x)
        return base + rgb + self._at(params[-1], rgb.shape[-2:])

    def forward(self, content: torch.Tensor, style: torch.Tensor, noise: list[torch.Tensor] | None,
                photo: torch.Tensor) -> torch.Tensor:
        params = self.style_params(style)
        return self.render(self.body(content, params, photo), params, noise, photo)


def make_noise(
    seed: int, height: int, width: int, strides: list[int], device=None, dtype=torch.float32, batch: int = 1,
    generator: torch.Generator | None = None,
) -> list[torch.Tensor]:
    """The noise z for an output of ``height``×``width`` px: one map [batch,1,H/s,W/s] per stride s.

    Drawn on the CPU from ``seed`` (or ``generator``) so the same seed gives the same noise on every
    device; inference uses batch 1, shared by all images of a batch (video frames stay consistent).
    """
    gen = generator or torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    maps = [torch.randn(batch, 1, height // s, width // s, generator=gen) for s in strides]
    return [m.to(device=device, dtype=dtype) for m in maps]
