"""ComfyUI's IMAGE / MASK tensors ↔ the models API's tensors, and per-frame slicing.

ComfyUI: IMAGE float ``[B,H,W,C]`` in 0..1 (C = 3 from core nodes), MASK ``[B,H,W]`` in 0..1.
API: images ``[B,3,H,W]``, masks as ``check_mask`` takes them.

Channel policy (documented in the node tooltips): an RGBA image (C = 4) has its alpha dropped,
as ComfyUI's own LoadImage does; a grayscale image (C = 1, or C = 2 gray + alpha) is repeated into
three channels. Any other channel count, an empty batch or a wrong rank is refused with a message
naming the node input.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..models import ContentFeatures, InputError, StyleVector, check_image, check_mask


def image_to_api(image, name: str = "image") -> torch.Tensor:
    """ComfyUI IMAGE ``[B,H,W,C]`` → API image ``[B,3,H,W]`` float32 (validated by ``check_image``)."""
    if not isinstance(image, torch.Tensor):
        raise InputError(f"{name}: expected an IMAGE, got {type(image).__name__}; connect an image output")
    if image.dim() == 3 and image.shape[-1] in (1, 2, 3, 4):
        image = image[None]  # a single [H,W,C] picture
    if image.dim() != 4:
        raise InputError(f"{name}: expected an IMAGE batch [B,H,W,C], got shape {tuple(image.shape)}")
    if image.shape[0] == 0:
        raise InputError(f"{name}: the image batch is empty (0 images); connect at least one image")
    channels = image.shape[-1]
    if channels == 4:
        image = image[..., :3]  # RGBA: drop alpha, as ComfyUI's LoadImage does
    elif channels in (1, 2):
        image = image[..., :1].expand(*image.shape[:-1], 3)  # grayscale (+ alpha): gray → RGB
    elif channels != 3:
        raise InputError(
            f"{name}: expected an RGB IMAGE with 3 channels (RGBA and grayscale are converted), got {channels} channels"
        )
    if image.is_floating_point():
        image = image.float()
    # A channels-last view: no full-size copy; integer images (0..255) are scaled or refused there.
    return check_image(image.permute(0, 3, 1, 2), name)


def image_from_api(image: torch.Tensor) -> torch.Tensor:
    """API image ``[B,3,H,W]`` → ComfyUI IMAGE ``[B,H,W,3]`` float32 on the CPU."""
    return image.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().contiguous()


def mask_to_api(mask, batch: int, name: str = "mask") -> torch.Tensor | None:
    """ComfyUI MASK ``[B|1,H,W]`` (any size: the API resamples it) → ``[B|1,1,H,W]`` float, or None."""
    if mask is None:
        return None
    if isinstance(mask, torch.Tensor) and mask.dim() == 4 and mask.shape[-1] == 1:
        mask = mask[..., 0]  # a MASK that went through an IMAGE-style [B,H,W,1] path
    return check_mask(mask, batch, name).cpu()


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
    return None if style is None else replace(style, tensor=frame(style.tensor, index))


def cat_features(parts: list[ContentFeatures]) -> ContentFeatures:
    """Frames extracted one by one → one ContentFeatures batch (all frames have one size)."""
    if len(parts) == 1:
        return parts[0]
    return replace(parts[0], tensor=torch.cat([p.tensor for p in parts]), image=torch.cat([p.image for p in parts]),
                   source_style=torch.cat([p.source_style for p in parts]))
