"""Colour helpers: RGB ↔ YCbCr (BT.601, full range) and luminance-only transfer.

``keep_colors(stylised, original)`` keeps the stylised luminance (the brush work) and the
original's chroma (its colours) — Gatys et al.'s "preserving colour" by luminance transfer.
"""

from __future__ import annotations

import torch

RGB_TO_YCC = torch.tensor([
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
])
YCC_TO_RGB = torch.linalg.inv(RGB_TO_YCC)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] RGB in 0..1 → Y in 0..1, Cb/Cr centred on 0."""
    return torch.einsum("ij,bjhw->bihw", RGB_TO_YCC.to(rgb), rgb)


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", YCC_TO_RGB.to(ycc), ycc)


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
    c, s = rgb_to_ycbcr(content), rgb_to_ycbcr(style)
    c_mean, c_std = c.mean(dim=(2, 3), keepdim=True), c.std(dim=(2, 3), keepdim=True) + 1e-5
    s_mean, s_std = s.mean(dim=(2, 3), keepdim=True), s.std(dim=(2, 3), keepdim=True) + 1e-5
    return ycbcr_to_rgb((c - c_mean) / c_std * s_std + s_mean).clamp(0, 1)


def rgb_moments(image: torch.Tensor, block_pixels: int = 1 << 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [B,3] and covariance [B,3,3] of the pixels of ``image`` [B,3,H,W], in float32.

    Summed over blocks of rows in float64, so a huge image needs no full-size temporary and the
    E[x·xᵀ] − μ·μᵀ form loses no precision.
    """
    b, _, h, w = image.shape
    s1 = torch.zeros(b, 3, dtype=torch.float64, device=image.device)
    s2 = torch.zeros(b, 3, 3, dtype=torch.float64, device=image.device)
    for part in image.split(max(1, block_pixels // max(w, 1)), dim=2):
        x = part.detach().reshape(b, 3, -1).double()
        s1 += x.sum(-1)
        s2 += x @ x.transpose(1, 2)
    n = h * w
    mean = s1 / n
    cov = s2 / n - mean[:, :, None] * mean[:, None, :]
    return mean.float(), cov.float()
