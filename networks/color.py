"""Colour helpers: RGB ↔ YCbCr (BT.601, full range) and luminance-only transfer.

``keep_colors(stylised, original)`` keeps the stylised luminance (the brush work) and the
original's chroma (its colours) — Gatys et al.'s "preserving colour" by luminance transfer.
"""

from __future__ import annotations

import torch

_RGB_TO_YCC = torch.tensor([
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
])
_YCC_TO_RGB = torch.linalg.inv(_RGB_TO_YCC)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] RGB in 0..1 → Y in 0..1, Cb/Cr centred on 0."""
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YCC.to(rgb), rgb)


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", _YCC_TO_RGB.to(ycc), ycc)


def keep_colors(stylised: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Luminance of ``stylised`` with the chroma of ``original`` (same shape), clamped to 0..1."""
    y = rgb_to_ycbcr(stylised)[:, :1]
    cbcr = rgb_to_ycbcr(original)[:, 1:]
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0, 1)


def color_transfer(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Reinhard et al. (2001) colour transfer in YCbCr: match per-channel mean and std to ``style``.

    The plain colour baseline StyleFusion is compared with: it moves colour strongly and keeps all
    structure, but transfers no texture. ``content`` [B,3,H,W], ``style`` [1|B,3,h,w], both 0..1.
    """
    return ycbcr_to_rgb(match_mean_std(rgb_to_ycbcr(content), rgb_to_ycbcr(style))).clamp(0, 1)


def match_mean_std(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Each channel of ``content`` [B,C,H,W] shifted and scaled to the mean and std of ``style``'s."""
    c_mean, c_std = content.mean(dim=(2, 3), keepdim=True), content.std(dim=(2, 3), keepdim=True) + 1e-5
    s_mean, s_std = style.mean(dim=(2, 3), keepdim=True), style.std(dim=(2, 3), keepdim=True) + 1e-5
    return (content - c_mean) / c_std * s_std + s_mean


# CIE Lab (D65 white, sRGB primaries): Reinhard et al.'s own colour space is lαβ; Lab is the common stand-in.
_RGB_TO_XYZ = torch.tensor([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883])
_LAB_EPSILON = 216 / 24389  # (6/29)³
_LAB_KAPPA = 24389 / 27


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] sRGB in 0..1 → CIE Lab (L in 0..100, a/b roughly −100..100)."""
    rgb = rgb.clamp(0, 1)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,bjhw->bihw", _RGB_TO_XYZ.to(rgb), linear) / _WHITE_D65.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _LAB_EPSILON, xyz.clamp_min(1e-12) ** (1 / 3), (_LAB_KAPPA * xyz + 16) / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab [B,3,H,W] → sRGB, clamped to 0..1."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f ** 3 > _LAB_EPSILON, f ** 3, (116 * f - 16) / _LAB_KAPPA) * _WHITE_D65.to(lab).view(1, 3, 1, 1)
    linear = torch.einsum("ij,bjhw->bihw", _XYZ_TO_RGB.to(lab), xyz).clamp(0, 1)
    return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055).clamp(0, 1)


def lab_color_transfer(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Reinhard et al. (2001) colour transfer in CIE Lab: per-channel mean and std matched to ``style``.

    The judge's colour baseline. ``content`` [B,3,H,W], ``style`` [1|B,3,h,w], both 0..1.
    """
    return lab_to_rgb(match_mean_std(rgb_to_lab(content), rgb_to_lab(style)))
