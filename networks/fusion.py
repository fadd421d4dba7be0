"""Fusion: blend content codes of two images, and mix N style vectors.

Feature fusion works on content codes [B,C,h,w] (B's code is resized to A's size first):

* ``blend``   — (1 − w)·c_A + w·c_B: a linear cross-fade of the two structures.
* ``mask``    — c_A where mask = 0, c_B where mask = 1 (soft masks blend): a composite.
* ``stats``   — AdaIN statistics swap: c_A's layout with c_B's per-channel mean/std, lerped by w.

Style mixing works on style vectors [B,D]: ``lerp`` is a weighted average; ``slerp`` moves along
the great circle between directions and interpolates the norm linearly, which keeps mixtures as
"strong" as their parts (a plain average of two different styles shrinks towards the mean style).
N styles are mixed by folding pairwise with cumulative weights, which for lerp is exactly the
weighted average.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .errors import InputError
from .layers import channel_stats

FUSION_MODES = ("blend", "mask", "stats")
MIX_MODES = ("lerp", "slerp")


def resize_like(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def fuse_content(
    a: torch.Tensor, b: torch.Tensor, weight: float = 0.5, mask: torch.Tensor | None = None, mode: str = "blend"
) -> torch.Tensor:
    """Fuse content codes ``a`` [B,C,h,w] and ``b`` [B',C,h',w'] (B' = B or 1) into A's shape.

    ``mask`` [B|1,1,H,W] (any size, resampled) restricts the effect of B to where mask > 0 in
    every mode; ``weight`` scales it.
    """
    if mode not in FUSION_MODES:
        raise InputError(f"mode: unknown fusion mode {mode!r}; use one of {', '.join(FUSION_MODES)}")
    b = resize_like(b, a.shape[-2:])
    if mode == "stats":
        mean_a, std_a = channel_stats(a)
        mean_b, std_b = channel_stats(b)
        b = (a - mean_a) / std_a * std_b + mean_b
    amount = torch.as_tensor(weight, dtype=a.dtype, device=a.device)
    if mask is not None:
        amount = amount * resize_like(mask.to(a.dtype), a.shape[-2:])
    elif mode == "mask":
        raise InputError("mask: the 'mask' fusion mode needs a mask (white = take image B)")
    return a + (b - a) * amount


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of directions, linear interpolation of norms; a, b [B,D]."""
    norm_a = a.norm(dim=-1, keepdim=True)
    norm_b = b.norm(dim=-1, keepdim=True)
    ua = a / norm_a.clamp_min(1e-8)
    ub = b / norm_b.clamp_min(1e-8)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1 + 1e-6, 1 - 1e-6)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / sin
    # Nearly parallel vectors: sin→0, fall back to lerp of directions.
    direction = torch.where(sin.abs() < 1e-4, ua + (ub - ua) * t, direction)
    return direction * (norm_a + (norm_b - norm_a) * t)


def mix_vectors(vectors: Sequence[torch.Tensor], weights: Sequence[float], mode: str = "lerp") -> torch.Tensor:
    """Mix style vectors (each [B,D] or [1,D]) with non-negative weights (normalised to sum 1)."""
    if mode not in MIX_MODES:
        raise InputError(f"mode: unknown mix mode {mode!r}; use one of {', '.join(MIX_MODES)}")
    if len(vectors) != len(weights) or not vectors:
        raise InputError("weights: give one weight per style")
    if any(w < 0 for w in weights):
        raise InputError("weights: style weights must be ≥ 0")
    total = float(sum(weights))
    if total <= 0:
        raise InputError("weights: at least one style weight must be > 0")
    mixed, cumulative = vectors[0], weights[0]
    for vec, w in zip(vectors[1:], weights[1:]):
        cumulative += w
        if w == 0:
            continue
        t = w / cumulative
        mixed = mixed + (vec - mixed) * t if mode == "lerp" else slerp(*torch.broadcast_tensors(mixed, vec), t)
    return mixed
