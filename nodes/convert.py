"""ComfyUI's IMAGE / MASK tensors ↔ the models API's tensors.

ComfyUI: IMAGE float ``[B,H,W,C]`` in 0..1 (C = 3 from core nodes), MASK ``[B,H,W]`` in 0..1.
API: images ``[B,3,H,W]``, masks as ``check_mask`` takes them.

Channel policy (documented in the node tooltips): an RGBA image (C = 4) has its alpha dropped,
as ComfyUI's own LoadImage does; a grayscale image (C = 1, or C = 2 gray + alpha) is repeated into
three channels. Any other channel count, an empty batch or a wrong rank is refused with a message
naming the node input.
"""

from __future__ import annotations

import torch

from ..models import InputError, check_image, check_mask

#: The channel policy, as IMAGE inputs' tooltips end.
IMAGE_NOTE = "RGBA loses alpha, grayscale becomes RGB; at least 64×64 px."


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
