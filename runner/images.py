"""Image files in and out, with ComfyUI's conventions (the one place the runner and the CLI decode pictures).

``IMAGE`` is float32 ``[B,H,W,3]`` in 0..1 and ``MASK`` is ``[B,H,W]`` in 0..1, as in ComfyUI. Decoding
follows core ``LoadImage``: EXIF orientation is applied, every frame of an animation of the first
frame's size becomes one batch entry, 16/32-bit integer images are scaled to 8-bit range, grayscale
and palette images become RGB, and an alpha channel becomes the mask *inverted* (ComfyUI's mask is 1
where the picture is transparent; an image without alpha gets core's 64×64 zero mask).
"""

from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np
import torch
from PIL import Image, ImageOps, ImageSequence, PngImagePlugin, UnidentifiedImageError

from .errors import InputFileError, WorkflowError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MASK_CHANNELS = ("alpha", "red", "green", "blue")


def open_image(path: str, what: str = "image") -> Image.Image:
    """Open a picture, turning every failure into an InputFileError naming ``what`` and the file."""
    if not os.path.isfile(path):
        raise InputFileError(f"{what}: file not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputFileError(f"{what}: cannot read {path} as an image ({exc})") from None
    return img


def _to_8bit_range(frame: Image.Image) -> Image.Image:
    """Integer images (mode I, I;16) hold 0..65535; scale them to 0..255 so ``convert`` keeps detail."""
    if frame.mode.startswith("I;16"):
        frame = frame.convert("I")
        return frame.point(lambda v: v * (1 / 257))
    if frame.mode == "I":
        return frame.point(lambda v: v * (1 / 255))
    return frame


def decode_image(img: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """Core LoadImage semantics → (IMAGE [B,H,W,3], MASK [B,H,W]); see the module docstring."""
    images, masks = [], []
    size = None
    for frame in ImageSequence.Iterator(img):
        frame = ImageOps.exif_transpose(frame)
        frame = _to_8bit_range(frame)
        rgb = frame.convert("RGB")
        if size is None:
            size = rgb.size
        elif rgb.size != size:
            continue  # core skips frames whose size differs from the first
        images.append(torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0))
        if "A" in frame.getbands():
            alpha = np.asarray(frame.getchannel("A"), dtype=np.float32) / 255.0
            masks.append(1.0 - torch.from_numpy(alpha))
        elif frame.mode == "P" and "transparency" in frame.info:
            alpha = np.asarray(frame.convert("RGBA").getchannel("A"), dtype=np.float32) / 255.0
            masks.append(1.0 - torch.from_numpy(alpha))
        else:
            masks.append(torch.zeros((64, 64), dtype=torch.float32))
        if img.format == "MPO":
            break  # MPO: the other "frames" are depth maps or previews
    if len({tuple(m.shape) for m in masks}) > 1:  # mixed alpha / no alpha frames: pad like an opaque frame
        h, w = images[0].shape[:2]
        masks = [m if m.shape == (h, w) else torch.zeros((h, w)) for m in masks]
    return torch.stack(images), torch.stack(masks)


def read_image(path: str, what: str = "image") -> tuple[torch.Tensor, torch.Tensor]:
    """Read a picture file → (IMAGE [B,H,W,3] float32 0..1, MASK [B,H,W])."""
    img = open_image(path, what)
    try:
        return decode_image(img)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{what}: cannot decode {path} ({exc})") from None


def read_mask(path: str, channel: str = "alpha", what: str = "image") -> torch.Tensor:
    """Core LoadImageMask semantics: one channel of the picture as MASK [1,H,W] (alpha is inverted)."""
    if channel not in MASK_CHANNELS:
        raise InputFileError(f"channel: {channel!r} is not one of {', '.join(MASK_CHANNELS)}")
    img = open_image(path, what)
    try:
        frame = _to_8bit_range(ImageOps.exif_transpose(img))
        if frame.getbands() != ("R", "G", "B", "A"):
            frame = frame.convert("RGBA")
        mask = torch.from_numpy(np.asarray(frame.getchannel(channel[0].upper()), dtype=np.float32) / 255.0)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{what}: cannot decode {path} ({exc})") from None
    if channel == "alpha":
        mask = 1.0 - mask
    return mask[None]


def read_gray(path: str, what: str = "mask") -> torch.Tensor:
    """A picture's luminance as a mask [1,H,W] in 0..1 (white = 1); for masks painted as images."""
    img = open_image(path, what)
    frame = _to_8bit_range(ImageOps.exif_transpose(img))
    return torch.from_numpy(np.asarray(frame.convert("L"), dtype=np.float32) / 255.0)[None]


def to_pil(image: torch.Tensor) -> Image.Image:
    """One frame ``[H,W,3]`` (or ``[H,W]``) in 0..1 → an 8-bit PIL image (rounded like ComfyUI: truncation)."""
    array = 255.0 * image.detach().cpu().float().numpy()
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def png_metadata(texts: Mapping[str, object] | None) -> PngImagePlugin.PngInfo | None:
    """PNG text chunks as ComfyUI writes them: each value ``json.dumps``-ed under its key."""
    if not texts:
        return None
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        if value is not None:
            info.add_text(key, json.dumps(value))
    return info


def save_image(image: torch.Tensor, path: str, texts: Mapping[str, object] | None = None,
               compress_level: int = 4) -> str:
    """Write one frame [H,W,3]; PNG files get ``texts`` as text chunks. The format follows the extension."""
    pil = to_pil(image)
    ext = os.path.splitext(path)[1].lower()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if ext == ".png" or not ext:
        pil.save(path, format="PNG", pnginfo=png_metadata(texts), compress_level=compress_level)
    elif ext in (".jpg", ".jpeg"):
        pil.save(path, quality=95)
    else:
        try:
            pil.save(path)
        except (KeyError, ValueError):
            raise WorkflowError(f"output: cannot write {path}: {ext!r} is not an image format Pillow can write; "
                                "use .png, .jpg or .webp") from None
    return path


def read_png_texts(path: str) -> dict[str, str]:
    """The text chunks of a PNG file (ComfyUI stores "prompt" and "workflow" there)."""
    img = open_image(path, "workflow")
    return {k: v for k, v in getattr(img, "text", {}).items() if isinstance(v, str)}


def nhwc_to_nchw(image: torch.Tensor) -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,3] → the model API's [B,3,H,W]."""
    return image.permute(0, 3, 1, 2).contiguous()


def nchw_to_nhwc(image: torch.Tensor) -> torch.Tensor:
    return image.permute(0, 2, 3, 1).contiguous()
