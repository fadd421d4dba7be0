"""Generation: the generator G renders (content code c, style vector s, noise z) → image.

    G(c, s, z) = render(body(c, s), s, z)

The content code c = [learned channels | colour thumbnail] (see ``feature_extractor.py``).
``body`` runs at stride 8: AdaIN residual blocks on the learned channels whose γ, β come from s
through a mapping MLP (MUNIT / StarGAN v2), and a colour transfer of the thumbnail to the palette
the style predicts (YCbCr mean and std, Reinhard-style); both need global statistics, and at
stride 8 the whole map is small enough to keep in memory even for a 4096² output. ``render`` is
purely local: smooth ×2 upsampling steps (1x1 conv + bilinear) to strides 4 and 2, StyleGAN2 modulated convs with
per-pixel noise z (texture variation) at both, and a sub-pixel conv (no per-sub-pixel bias, so no
fixed 2x2 pattern can be learnt) to a full-resolution RGB residual (detail, texture, brush marks)
added to the bilinearly upsampled recoloured thumbnail. Being local,
``render`` can run tile by tile with identical results, so memory is bounded by the tile.

Default config: ≈ 4.8 k MACs per output pixel ≈ 9.7 GFLOPs per megapixel; ≈ 0.40 M parameters.
Receptive field of ``render``: about 28 output px (radius 14) — the tiling halo below is larger.

``generate`` is G as the API runs it: strength, region styles, noise from a seed, tiles, the margin.

Training plays the paper's min-max game with the discriminator D (``discriminator.py``); the
objective is written down once, in ``training/losses.py``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .color import keep_colors, rgb_to_ycbcr, ycbcr_to_rgb
from .config import StyleFusionConfig
from .feature_extractor import CONTENT_STRIDE, MARGIN, padded_size
from .layers import AdaINResBlock, MissingStats, ModulatedConv, SmoothUp, StreamedStats, stats_of
from .tiling import Progress, run_tiled

#: Radius in output pixels that ``render`` needs around a tile (multiple of 8; > its receptive field).
RENDER_HALO = 32
#: Pictures above this many pixels (with their margin) that render in tiles never hold their stride-8
#: maps (~20 bytes per pixel): the code is computed per tile and the body's statistics in passes.
STREAM_ABOVE_PIXELS = 16_000_000


def streams(tile_size: int, height: int, width: int) -> bool:
    """Whether a tiled render of a padded height×width picture streams (see STREAM_ABOVE_PIXELS)."""
    return bool(tile_size) and height * width > STREAM_ABOVE_PIXELS


#: The code of a region of the padded picture: (top, left, bottom, right) px → [B,C,cells,cells].
CodeRegion = Callable[[int, int, int, int], torch.Tensor]
#: Overlap (px) of neighbouring tiles, cross-faded.
DEFAULT_TILE_OVERLAP = 64
#: Typical YCbCr mean and std of a picture's 8x8 thumbnail: the palette at zero style parameters.
PALETTE_MEAN = (0.45, 0.0, 0.0)
PALETTE_STD = (0.22, 0.05, 0.05)


class Generator(nn.Module):
    """G: content code [B,C,h,w] (stride 8) + style vector [B,D] + noise → image [B,3,8h,8w] in 0..1."""

    def __init__(self, config: StyleFusionConfig):
        super().__init__()
        c8, c4, c2 = config.content_width, config.generator_width_s4, config.generator_width_s2
        self.learned_channels = c8
        self.blocks = nn.ModuleList(AdaINResBlock(c8) for _ in range(config.generator_res_blocks))
        self.up = SmoothUp(c8, c4)
        self.up2 = SmoothUp(c4, c2)
        n_s4 = config.generator_modulated_convs
        self.mod_convs = nn.ModuleList([ModulatedConv(c4, c4) for _ in range(n_s4)] + [ModulatedConv(c2, c2)])
        #: Stride of each modulated conv's input (and of its noise map).
        self.noise_strides = [4] * n_s4 + [2]
        self.to_rgb = nn.Sequential(nn.Conv2d(c2, 3 * 4, 3, 1, 1, bias=False), nn.PixelShuffle(2))
        nn.init.zeros_(self.to_rgb[0].weight)  # start as the recoloured thumbnail; learn detail on top
        self.register_buffer("palette_mean", torch.tensor(PALETTE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("palette_std", torch.tensor(PALETTE_STD).view(1, 3, 1, 1), persistent=False)

        # Mapping network: s → (γ, β per AdaIN layer; palette mean/log-std; modulation per
        # modulated conv; RGB bias of the residual).
        self.param_sizes = ([b.n_params for b in self.blocks] + [6] + [m.n_params for m in self.mod_convs] + [3])
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
    def body(self, content: torch.Tensor, params, fused: bool = False, stats: StreamedStats | None = None) -> torch.Tensor:
        """Stride 8, global statistics, run on the whole map: AdaIN blocks + thumbnail recolouring.

        Region styles run it once per style and blend the results by the mask: AdaIN's statistics
        are global, so one pass with spatially mixed parameters would let each region's style leak
        into the other through them.
        """
        head = params[: len(self.blocks) + 1]
        regions = [p for p in head if isinstance(p, tuple)]
        if not regions:
            return self._body(content, head, fused, stats)
        a = self._body(content, [p[0] if isinstance(p, tuple) else p for p in head], fused, stats)
        b = self._body(content, [p[1] if isinstance(p, tuple) else p for p in head], fused, stats)
        m = F.interpolate(regions[0][2], size=a.shape[-2:], mode="bilinear", align_corners=False)
        return a + (b - a) * m

    def _body(self, content: torch.Tensor, params, fused: bool, stats: StreamedStats | None) -> torch.Tensor:
        h, thumbnail = content[:, : self.learned_channels], content[:, self.learned_channels:]
        for block, p in zip(self.blocks, params):
            h = block(h, p, fused, stats)
        palette = params[len(self.blocks)]
        ycc = rgb_to_ycbcr(thumbnail)
        mean, std = stats_of(ycc, stats)
        target_mean = self.palette_mean.to(ycc) + palette[:, :3]
        target_std = self.palette_std.to(ycc) * torch.exp(palette[:, 3:].clamp(-4, 4))
        recoloured = ycbcr_to_rgb((ycc - mean) / std * target_std + target_mean)
        if fused and h.stride(1) == 1:  # keep a channels-last code channels-last
            recoloured = recoloured.contiguous(memory_format=torch.channels_last)
        return torch.cat([h, recoloured], dim=1)

    def render(self, h: torch.Tensor, params, noise: list[torch.Tensor] | None, fused: bool = False) -> torch.Tensor:
        """Local decoder, stride 8 → full resolution. ``noise``: one [1|B,1,2h,2w] map per modulated conv.

        Returns recoloured thumbnail + residual, not clamped (training sees the raw values).
        ``fused`` (no autograd, one style per image): the RGB bias folds into ``to_rgb``'s bias, whose
        output channels are computed in the order (i, j, c), so each conv output position holds its
        block of RGB pixels row by row and the pixel shuffle copies runs of values into the upsampled
        thumbnail in place. Channels-last throughout (oneDNN's fast layout on CPU); the result is
        channels-last too, the layout of ComfyUI's IMAGE.
        """
        params = params[len(self.blocks) + 1:]
        code, thumbnail = h[:, : self.learned_channels], h[:, self.learned_channels:]
        fused = fused and not isinstance(params[-1], tuple)
        if fused:
            code, thumbnail = (t.contiguous(memory_format=torch.channels_last) for t in (code, thumbnail))
        x = self._styled_features(code, params, noise, fused)
        conv, r = self.to_rgb[0], self.to_rgb[1].upscale_factor
        size = (x.shape[-2] * r, x.shape[-1] * r)
        base = F.interpolate(thumbnail, size=size, mode="bilinear", align_corners=False)
        if not fused:
            return base + (self.to_rgb(x) + self._at(params[-1], size))
        rgb_bias = params[-1].flatten(1).repeat_interleave(r * r, dim=1)  # [B, 3·r²], channel order (c, i, j)
        if conv.bias is not None:
            rgb_bias = rgb_bias + conv.bias
        order = torch.arange(conv.out_channels, device=x.device).view(-1, r, r).permute(1, 2, 0).reshape(-1)
        weight = conv.weight[order].contiguous(memory_format=torch.channels_last)
        rgb_bias = rgb_bias[:, order]
        if rgb_bias.shape[0] == 1:
            y = F.conv2d(x, weight, rgb_bias[0], 1, 1)
        else:
            y = F.conv2d(x, weight, None, 1, 1).add_(rgb_bias[:, :, None, None])
        return _pixel_shuffle_channels_last(y, r, add_to=base)

    def _styled_features(self, code: torch.Tensor, params, noise, fused: bool) -> torch.Tensor:
        """Learned content channels (stride 8) → stride-2 features: up to stride 4, the modulated
        convs there, up to stride 2 before the first stride-2 one. ``params``: render's own."""
        x = self.up(code)
        for i, conv in enumerate(self.mod_convs):
            if self.noise_strides[i] == 2 and self.noise_strides[i - 1] == 4:
                x = self.up2(x)
            x = conv(x, self._at(params[i], x.shape[-2:]), None if noise is None else noise[i], fused)
        return x

    @property
    def body_halo(self) -> int:
        """Radius in px that ``body`` needs around a region: one stride-8 cell per 3x3 conv."""
        return 2 * len(self.blocks) * CONTENT_STRIDE

    def generate(
        self,
        content: torch.Tensor | CodeRegion,
        source_style: torch.Tensor,
        style: torch.Tensor,
        image_size: tuple[int, int],
        strength: float = 1.0,
        seed: int = 0,
        style_b: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        keep_colors_of: torch.Tensor | None = None,
        tile_size: int = 0,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        progress: Progress | None = None,
        fused: bool = True,
    ) -> torch.Tensor:
        """G's whole inference: the picture [B,3,H,W] float32 in 0..1 (``image_size`` = (H, W)).

        ``content`` is ``FeatureExtractor.encode``'s code [B,C,h,w] (with the mirrored MARGIN) or, for
        a picture too large to hold it, a ``CodeRegion`` function (``encode_region``; then
        ``tile_size`` is required and the body's statistics are gathered in streamed passes).
        ``source_style`` [B,D] is the picture's own style and ``style`` [1|B,D] the target: G renders
        s + (t − s)·strength. ``style_b`` [B,D] + ``mask`` [B,1,H,W]: style b where the mask is white.
        ``keep_colors_of`` [B,3,H,W]: the picture whose colours to keep. ``tile_size`` > 0 renders in
        overlapping tiles (memory bounded by the tile); the body's statistics are always global. The
        noise comes from ``seed``, shared by every image of the batch, so video frames get the same texture.
        """
        if strength == 1.0 and style.shape[0] == 1:
            # One style for the whole batch: its parameters broadcast, so a batch renders with one set of
            # modulated weights (s + (t − s)·1 = t).
            params = self.style_params(style)
        else:
            params = self.style_params(source_style + (style - source_style) * strength)
        h, w = image_size
        s = CONTENT_STRIDE
        hp, wp = padded_size(h, w) if callable(content) else (content.shape[-2] * s, content.shape[-1] * s)
        if not callable(content) and streams(tile_size, hp, wp):
            # A code already in memory: the body still streams, so its maps of the picture are never held.
            code = content
            content = lambda t, l, b, r: code[..., t // s:b // s, l // s:r // s]  # noqa: E731
        streamed = callable(content)
        if style_b is not None:
            m = F.pad(mask, (MARGIN, wp - w - MARGIN, MARGIN, hp - h - MARGIN), mode="replicate")
            params = self.blend_params(params, self.style_params(source_style + (style_b - source_style) * strength), m)
        if streamed:
            # The noise is drawn as the tiles ask for it: the same values, never a map of the whole picture.
            noise = noise_streams(seed, hp, wp, self.noise_strides, style.device, style.dtype)
            stats = self._streamed_stats(content, params, hp, wp, tile_size, fused)

            def body_of(top: int, left: int, bottom: int, right: int) -> torch.Tensor:
                t, l, b, r = _grow((top, left, bottom, right), self.body_halo, hp, wp)
                out = self.body(content(t, l, b, r), [_crop_param(q, t, l, b, r) for q in params], fused, stats.rewind())
                return out[..., (top - t) // s:(bottom - t) // s, (left - l) // s:(right - l) // s]
        else:
            noise = make_noise(seed, hp, wp, self.noise_strides, style.device, style.dtype)
            whole = self.body(content, params, fused)

            def body_of(top: int, left: int, bottom: int, right: int) -> torch.Tensor:
                return whole[..., top // s:bottom // s, left // s:right // s]

        if streamed or (tile_size and max(hp, wp) > tile_size):
            def region(r):
                top, left, bottom, right = r
                t, l, b, rr = _grow(r, RENDER_HALO, hp, wp)
                p = [_crop_param(q, t, l, b, rr) for q in params]
                z = [noise_window(n, t // k, l // k, b // k, rr // k) for n, k in zip(noise, self.noise_strides)]
                out = self.render(body_of(t, l, b, rr), p, z, fused)
                return out[..., top - t:bottom - t, left - l:right - l]

            image = run_tiled(region, hp, wp, tile_size, tile_overlap, CONTENT_STRIDE, progress)
        else:
            image = self.render(whole, params, noise, fused)
        image = image[..., MARGIN:MARGIN + h, MARGIN:MARGIN + w].float()
        if keep_colors_of is not None:
            _keep_colors_in_place(image, keep_colors_of)
        return image.clamp_(0, 1)  # the raw output is thumbnail + residual; clamp in place, no extra copy

    def _streamed_stats(self, content: CodeRegion, params, hp: int, wp: int, tile: int, fused: bool) -> StreamedStats:
        """Every statistic ``body`` needs over the whole hp×wp picture, one pass over its tiles per
        statistic (see ``StreamedStats``); each tile runs with the body's halo, so its cells are exact."""
        stats, s = StreamedStats(), CONTENT_STRIDE
        tile = max(8 * s, tile // s * s)
        cells = (hp // s) * (wp // s)
        while True:
            sums = None
            for top in range(0, hp, tile):
                for left in range(0, wp, tile):
                    region = (top, left, min(top + tile, hp), min(left + tile, wp))
                    t, l, b, r = _grow(region, self.body_halo, hp, wp)
                    try:
                        self.body(content(t, l, b, r), [_crop_param(q, t, l, b, r) for q in params], fused, stats.rewind())
                        return stats  # no statistic was missing: all are known
                    except MissingStats as missing:
                        x = missing.tensor[..., (region[0] - t) // s:(region[2] - t) // s,
                                           (region[1] - l) // s:(region[3] - l) // s].double()
                        part = torch.stack([x.sum(dim=(2, 3)), x.square().sum(dim=(2, 3))])
                        sums = part if sums is None else sums + part
            mean = sums[0] / cells
            var = (sums[1] / cells - mean.square()).clamp_min(0)
            stats.values.append((mean[..., None, None].float(), (var + 1e-5).sqrt()[..., None, None].float()))

    def forward(self, content: torch.Tensor, style: torch.Tensor, noise: list[torch.Tensor] | None = None,
                fused: bool = False):
        params = self.style_params(style)
        return self.render(self.body(content, params, fused), params, noise, fused)


def _grow(region: tuple[int, int, int, int], halo: int, height: int, width: int) -> tuple[int, int, int, int]:
    """``region`` (top, left, bottom, right) grown by ``halo`` px on each side, within height×width."""
    top, left, bottom, right = region
    return max(0, top - halo), max(0, left - halo), min(height, bottom + halo), min(width, right + halo)


def _crop_param(param, top: int, left: int, bottom: int, right: int):
    """A tile's share of a layer's parameters: a region style's mask is cropped to the tile."""
    if isinstance(param, tuple):
        a, b, mask = param
        return a, b, mask[..., top:bottom, left:right]
    return param


def _keep_colors_in_place(image: torch.Tensor, original: torch.Tensor, rows: int = 256) -> None:
    """``image[:] = keep_colors(image, original)`` band by band: no full-size colour-space copies."""
    for top in range(0, image.shape[-2], rows):
        band = image[..., top:top + rows, :]
        band.copy_(keep_colors(band, original[..., top:top + rows, :].to(band)))


def _pixel_shuffle_channels_last(x: torch.Tensor, factor: int, add_to: torch.Tensor | None = None) -> torch.Tensor:
    """Sub-pixel rearrangement of ``x`` [B,r²·C,h,w] with channels in (i, j, c) order (not
    ``pixel_shuffle``'s (c, i, j)) → [B,C,r·h,r·w], out[b, c, r·y + i, r·x + j] = x[b, (i·r + j)·C + c, y, x].

    Returned channels-last: in that layout each output row segment is r·C consecutive values of
    ``x``, so this is a copy of contiguous runs; it is also ComfyUI's IMAGE layout [B,H,W,C].
    ``add_to`` (channels-last [B,C,r·h,r·w], updated in place and returned): add instead of copy.
    """
    b, c, h, w = x.shape
    c_out = c // factor**2
    src = x.permute(0, 2, 3, 1).reshape(b, h, w, factor, factor * c_out).transpose(2, 3)  # a view when x is channels-last
    if add_to is not None and add_to.stride(1) == 1 and add_to.permute(0, 2, 3, 1).is_contiguous():
        out = add_to.permute(0, 2, 3, 1).view(b, h, factor, w, factor * c_out)
        out.add_(src)
    else:
        out = torch.empty(b, h, factor, w, factor * c_out, dtype=x.dtype, device=x.device)
        out.copy_(src)
        if add_to is not None:
            out.add_(add_to.permute(0, 2, 3, 1).reshape(out.shape))
    return out.view(b, h * factor, w * factor, c_out).permute(0, 3, 1, 2)


def make_noise(
    seed: int, height: int, width: int, strides: list[int], device=None, dtype=torch.float32, batch: int = 1,
    generator: torch.Generator | None = None,
) -> list[torch.Tensor]:
    """The noise z for an output of ``height``×``width`` px: one map [batch,1,H/s,W/s] per stride s.

    Drawn on the CPU from ``seed`` (or ``generator``) so the same seed gives the same noise on every
    device; inference uses batch 1, shared by all images of a batch (video frames stay consistent).
    """
    gen = generator or _seeded(seed)
    maps = [torch.randn(batch, 1, height // s, width // s, generator=gen) for s in strides]
    return [m.to(device=device, dtype=dtype) for m in maps]


#: Values drawn at a time when noise is streamed: a multiple of 16, torch's block of normals.
NOISE_CHUNK = 1 << 20


class NoiseStream:
    """One noise map [1,1,H,W] drawn band by band as the tiles ask for rows: value for value what
    ``torch.randn(1, 1, H, W, generator=g)`` gives, holding only the rows the current tiles need.

    torch's CPU sampler fills uniforms in order and turns them into normals in blocks of 16, the last
    partial block redrawn; drawn in chunks that are multiples of 16 (the last one at least 16 long),
    the values are the same (``tests/test_tiling.py`` checks it). Rows are asked for in raster order;
    asking for rows already dropped starts the stream again from its first value.
    """

    def __init__(self, state: torch.Tensor, height: int, width: int, device=None, dtype=torch.float32):
        self.state, self.height, self.width = state, height, width
        self.device, self.dtype = device, dtype
        self.total = height * width
        self._restart()

    def _restart(self) -> None:
        self.generator = torch.Generator()
        self.generator.set_state(self.state)
        self.drawn = 0  # values drawn so far
        self.start = 0  # index of buffer[0] in the map
        self.buffer = torch.empty(0)

    def _chunk(self, wanted: int) -> int:
        left = self.total - self.drawn
        n = min(left, -(-max(wanted, 16) // 16) * 16)
        return left if left - n < 16 else n

    def draw_all(self) -> None:
        """Draw (and drop) the rest of the map: the generator then stands where the next map starts."""
        while self.drawn < self.total:
            n = self._chunk(NOISE_CHUNK)
            torch.randn(n, generator=self.generator)
            self.drawn += n
        self.buffer = torch.empty(0)

    def window(self, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
        """Rows top:bottom, columns left:right of the map, [1,1,bottom-top,right-left]."""
        w = self.width
        if top * w < self.start:
            self._restart()
        if self.drawn < bottom * w:
            parts = [self.buffer]
            while self.drawn < bottom * w:
                n = self._chunk(bottom * w - self.drawn)
                parts.append(torch.randn(n, generator=self.generator))
                self.drawn += n
            self.buffer = torch.cat(parts)
        if top * w > self.start:  # rows above the asked ones are never needed again
            self.buffer = self.buffer[top * w - self.start:].clone()
            self.start = top * w
        rows = self.buffer[top * w - self.start:bottom * w - self.start].view(1, 1, bottom - top, w)
        return rows[..., left:right].to(device=self.device, dtype=self.dtype)


def noise_streams(seed: int, height: int, width: int, strides: list[int], device=None,
                  dtype=torch.float32) -> list[NoiseStream]:
    """``make_noise``'s maps (batch 1) as ``NoiseStream``s: the same values, drawn as tiles need them."""
    gen = _seeded(seed)
    streams = []
    for i, s in enumerate(strides):
        stream = NoiseStream(gen.get_state(), height // s, width // s, device, dtype)
        if i + 1 < len(strides):  # the next map's values start where this one's end
            stream.draw_all()
            gen.set_state(stream.generator.get_state())
            stream._restart()
        streams.append(stream)
    return streams


def _seeded(seed: int) -> torch.Generator:
    """The CPU generator of a noise seed (any integer; the same seed gives the same noise on every device)."""
    return torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


def noise_window(noise: torch.Tensor | NoiseStream, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    """Rows top:bottom, columns left:right of a noise map, held whole or streamed."""
    if isinstance(noise, NoiseStream):
        return noise.window(top, left, bottom, right)
    return noise[..., top:bottom, left:right]
