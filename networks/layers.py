"""Building blocks shared by the networks: the one place for convs, AdaIN and modulation.

Hot paths avoid grouped convolutions and reflection padding (both slow on CPU); activations are
in-place; every block is local (no data-dependent statistics) except :class:`AdaIN`, which only
runs at stride 8 where the whole feature map fits in memory even for a 4096² image.

Each layer has one forward with an explicit ``fused`` switch (StyleGAN2's ``fused_modconv``): fused,
it computes the same function within float rounding in fewer passes over the activations — AdaIN as
one ``x·a + c`` pass over blocked statistics, the modulation of a single style folded into the conv
weight, residual and noise adds in place. Inference runs fused (``StyleFusionModel.fused``); training
calls the layers with the default ``fused=False``, the plain formulas, so gradients are the textbook ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def tapped(layers, h: torch.Tensor, taps) -> list[torch.Tensor]:
    """Run ``h`` through ``layers`` in order; return the outputs of the layers whose index is in ``taps``."""
    out = []
    for i, layer in enumerate(layers):
        h = layer(h)
        if i in taps:
            out.append(h)
    return out


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride, 1)


def lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


def channel_stats(x: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-5):
    """Per-channel mean and std of ``x`` [B,C,h,w] over space, optionally weighted by ``mask`` [B,1,h,w]."""
    if mask is None:
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        return mean, (var + eps).sqrt()
    weight = mask / mask.sum(dim=(2, 3), keepdim=True).clamp_min(eps)
    mean = (x * weight).sum(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2 * weight).sum(dim=(2, 3), keepdim=True)
    return mean, (var + eps).sqrt()


def mean_std(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``channel_stats`` of ``x`` [B,C,h,w] as one vector per sample: the means, then the stds → [B,2C]."""
    mean, std = channel_stats(x, mask)
    return torch.cat([mean, std], dim=1).flatten(1)


def relative_error(diff: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ‖diff‖² / ‖target‖² → [B]: an error the same size whatever the scale of the target."""
    dims = tuple(range(1, diff.dim()))
    return diff.square().sum(dims) / target.square().sum(dims).clamp_min(1e-12)


class StreamedStats:
    """The channel statistics a network's AdaIN layers need, known before the map they describe.

    A picture too large to hold its stride-8 maps is rendered tile by tile; each AdaIN still needs
    μ and σ of its whole input. They are gathered in passes (``Generator.generate``): a pass runs
    every tile up to the first statistic not yet known, where ``take`` raises ``MissingStats`` with
    that tile's input, and accumulates it; the next pass knows one more. ``take`` hands them out in
    the order the layers ask, so the same code runs whole or streamed.
    """

    def __init__(self):
        self.values: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.cursor = 0

    def rewind(self) -> "StreamedStats":
        self.cursor = 0
        return self

    def take(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cursor == len(self.values):
            raise MissingStats(x)
        self.cursor += 1
        return self.values[self.cursor - 1]


class MissingStats(Exception):
    """Raised by ``StreamedStats.take`` with the map whose statistics are not known yet."""

    def __init__(self, x: torch.Tensor):
        super().__init__("a streamed statistic is not known yet")
        self.tensor = x


def stats_of(x: torch.Tensor, stats: StreamedStats | None = None, fused: bool = False):
    """μ, σ of ``x`` over space: from ``stats`` when the picture is streamed, else computed."""
    if stats is not None:
        mean, std = stats.take(x)
        return mean.to(x.dtype), std.to(x.dtype)
    return _channel_stats_blocked(x) if fused else channel_stats(x)


def adain(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, fused: bool = False,
          stats: StreamedStats | None = None) -> torch.Tensor:
    """AdaIN(x, γ, β) = γ · (x − μ(x)) / σ(x) + β (Huang & Belongie 2017).

    ``gamma``/``beta`` are [B,C,1,1] or spatial [B,C,h,w] (region styles). ``fused`` (no autograd):
    one pass x·a + c with a = γ/σ, c = β − μ·a, the same affine map.
    """
    mean, std = stats_of(x, stats, fused)
    if fused:
        scale = gamma / std
        return torch.addcmul(beta - mean * scale, x, scale)
    return (x - mean) / std * gamma + beta


def _channel_stats_blocked(x: torch.Tensor, eps: float = 1e-5, block: int = 2048):
    """``channel_stats(x)`` (no mask) for inference: the same two-pass mean and variance, done over
    cache-sized blocks of rows. ``torch.var_mean`` over space is 10-20x slower on CPU, and a
    whole-map ``x − μ`` temporary would cost a full-size allocation. Works on views (a channel
    slice of a channels-last code) without copying them."""
    if x.dim() != 4 or x.shape[-1] * x.shape[-2] <= block:
        return channel_stats(x, eps=eps)
    b, c, h, w = x.shape
    if x.stride(1) < x.stride(3):  # channels-last: [B,h,w,C], reduce over rows and columns
        rows, row_dim, dims = x.permute(0, 2, 3, 1), 1, (1, 2)
    else:
        rows, row_dim, dims = x, 2, (2, 3)
    blocks = rows.split(max(1, block // w), dim=row_dim)
    total = sum(part.sum(dim=dims, keepdim=True) for part in blocks)
    mean = total / (h * w)
    buffer = torch.empty(blocks[0].shape, dtype=x.dtype, device=x.device)
    squares = torch.zeros_like(mean)
    for part in blocks:
        centered = torch.sub(part, mean, out=buffer.narrow(row_dim, 0, part.shape[row_dim]))
        squares += centered.square_().sum(dim=dims, keepdim=True)
    std = (squares / (h * w) + eps).sqrt()
    return mean.reshape(b, c, 1, 1), std.reshape(b, c, 1, 1)


class SmoothUp(nn.Module):
    """×2 upsampling without sub-pixel structure: 1x1 conv at the low resolution, bilinear ×2, LeakyReLU.

    A pixel shuffle gives each of the 2x2 sub-positions its own weights and bias, and a briefly
    trained G uses that freedom to paint a fixed grid pattern; bilinear interpolation is the same
    everywhere. The 1x1 conv commutes with the interpolation, so it runs before it, at 1/4 the cost.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1)
        self.act = lrelu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.interpolate(self.conv(x), scale_factor=2, mode="bilinear", align_corners=False)
        return self.act(y)


class AdaINResBlock(nn.Module):
    """x + conv(act(AdaIN(conv(act(AdaIN(x)))))): 2·9·C² MACs per position."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = conv3x3(width, width)
        self.conv2 = conv3x3(width, width)
        self.act = lrelu()
        self.n_params = 4 * width  # γ1, β1, γ2, β2

    def forward(self, x: torch.Tensor, params: torch.Tensor, fused: bool = False,
                stats: StreamedStats | None = None) -> torch.Tensor:
        g1, b1, g2, b2 = params.chunk(4, dim=1)
        h = self.conv1(self.act(adain(x, 1 + g1, b1, fused, stats)))
        h = self.conv2(self.act(adain(h, 1 + g2, b2, fused, stats)))
        return h.add_(x) if fused else x + h


class ModulatedConv(nn.Module):
    """StyleGAN2 modulated 3x3 conv with demodulation and noise injection, no data statistics.

    y = demod ⊙ conv(x ⊙ m, W) + b + λ·n, where m (per input channel) comes from the style vector
    and demod_o = (Σ_i,k (W_oik · m_i)² + ε)^-½. Done as activation scaling (never a grouped conv),
    so it is equally fast for batches and accepts spatial modulation maps (region styles).
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3) / math.sqrt(9 * c_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.act = lrelu()
        self.n_params = c_in

    def forward(self, x: torch.Tensor, mod: torch.Tensor, noise: torch.Tensor | None, fused: bool = False) -> torch.Tensor:
        """``fused`` (no autograd), one style for the batch: demod_o · conv(x ⊙ m, W) = conv(x, W ⊙ m_i ⊙
        demod_o), so the style goes into the weights (StyleGAN2's weight-side form, no grouped conv) and
        the bias into the conv call; a batch of styles keeps activation scaling, demodulation and bias in
        one pass; the noise is added in place."""
        m = 1 + mod  # [B,C_in,1,1] or [B,C_in,h,w]
        w2 = self.weight.square().sum(dim=(2, 3))  # [C_out, C_in]
        if m.shape[-1] == 1 and m.shape[-2] == 1:
            demod = torch.rsqrt(m.flatten(1).square() @ w2.t() + 1e-8)[:, :, None, None]
        else:  # spatial modulation (region styles): demodulate per position
            demod = torch.rsqrt(torch.einsum("bihw,oi->bohw", m.square(), w2) + 1e-8)
        bias = self.bias[None, :, None, None]
        if not fused or demod.shape[-1] != 1:
            y = F.conv2d(x * m, self.weight, None, 1, 1) * demod + bias
        elif m.shape[0] == 1:
            y = F.conv2d(x, self.weight * (demod.reshape(-1, 1, 1, 1) * m), self.bias, 1, 1)
        else:
            y = torch.addcmul(bias, F.conv2d(x * m, self.weight, None, 1, 1), demod)
        if noise is not None:
            scaled = self.noise_strength * noise  # [1|B,1,h,w]: 1/C of the activation's size
            in_place = fused and torch.broadcast_shapes(y.shape, scaled.shape) == y.shape
            y = y.add_(scaled) if in_place else y + scaled
        return self.act(y)


def mac_count(module: nn.Module, *inputs, **kwargs) -> int:
    """Multiply-accumulates of the conv, linear and modulated-conv layers in one forward pass."""
    total = 0

    def hook(mod, args, out):
        nonlocal total
        total += out.numel() * mod.weight[0].numel()  # outputs × (C_in/groups · k · k)

    hooks = [
        m.register_forward_hook(hook)
        for m in module.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear, ModulatedConv))
    ]
    try:
        with torch.no_grad():  # the plain route (fused=False): every conv runs as its module
            module(*inputs, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return total
