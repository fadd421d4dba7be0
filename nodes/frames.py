"""Batches run frame by frame: each frame's slice of the per-frame inputs, and the loop over frames.

Frames of a video share one style and one noise seed, so they stay consistent; running them one at
a time bounds memory to one frame, moves ComfyUI's progress bar per frame (and per tile) and lets
Cancel stop a long batch. An input with a batch of 1 is shared by every frame.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, TypeVar

import torch

from ..models import ContentFeatures, InputError, StyleFusionModel, StyleVector
from ..networks.tiling import Progress
from . import comfyui
from .convert import image_from_api

T = TypeVar("T")


def each_frame(model: StyleFusionModel, count: int, compute: Callable[[int, Progress], T]) -> list[T]:
    """``compute(i, tile_progress)`` for frames ``0..count-1`` with ``model`` ready on its device.

    Inside ComfyUI the model is first loaded through its model management; the progress bar
    advances per frame and, through ``tile_progress``, per tile, and Cancel is checked in between.
    """
    comfyui.load_for_use(model)
    progress = comfyui.FrameProgress(count)
    results = []
    for i in range(count):
        progress.start(i)
        results.append(compute(i, progress.tiles(i)))
        progress.done(i)
    return results


def render_frames(model: StyleFusionModel, count: int, render: Callable[[int, Progress], torch.Tensor]) -> torch.Tensor:
    """``each_frame`` for a renderer of API images ``[1,3,H,W]`` → one ComfyUI IMAGE ``[B,H,W,3]``."""
    frames = each_frame(model, count, lambda i, tiles: render(i, tiles).cpu())  # one frame on the device at a time
    return image_from_api(torch.cat(frames))


def frame(tensor: torch.Tensor | None, index: int) -> torch.Tensor | None:
    """Frame ``index`` of a batch, or the single item of a batch of one (shared by every frame)."""
    if tensor is None:
        return None
    i = index if tensor.shape[0] > 1 else 0
    return tensor[i:i + 1]


def check_batch(value_batch: int, batch: int, name: str, what: str = "items") -> None:
    """Refuse a per-frame input whose batch is neither 1 (shared) nor the frame count."""
    if value_batch not in (1, batch):
        raise InputError(
            f"{name}: has {value_batch} {what} for a batch of {batch} frames; give one (used for every frame) "
            f"or one per frame"
        )


def features_frame(features: ContentFeatures, index: int) -> ContentFeatures:
    return replace(features, tensor=frame(features.tensor, index), image=frame(features.image, index),
                   source_style=frame(features.source_style, index))


def style_frame(style: StyleVector | None, index: int) -> StyleVector | None:
    return None if style is None else replace(style, tensor=frame(style.tensor, index),
                                              statistics=frame(style.statistics, index))


def cat_features(parts: list[ContentFeatures]) -> ContentFeatures:
    """Frames extracted one by one → one ContentFeatures batch (all frames have one size)."""
    if len(parts) == 1:
        return parts[0]
    return replace(parts[0], tensor=torch.cat([p.tensor for p in parts]), image=torch.cat([p.image for p in parts]),
                   source_style=torch.cat([p.source_style for p in parts]))
