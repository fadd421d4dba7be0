"""Pictures in and out: the decoding rules every reader shares, and tensors back to 8-bit pictures.

Decoding follows ComfyUI's core LoadImage, wherever a picture is read (the runner, the CLI, training):
EXIF orientation is applied, and 16/32-bit integer images are scaled to 8-bit range before they become
RGB. What a reader does with a file that breaks these rules (refuse it, skip it) is the reader's own.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

#: What Pillow raises for a file that is not a usable picture (a decompression bomb included).
UNREADABLE = (OSError, ValueError, UnidentifiedImageError, SyntaxError, Image.DecompressionBombError,
              struct.error, IndexError, TypeError)


def to_8bit_range(frame: Image.Image) -> Image.Image:
    """Integer images (mode I, I;16) hold 0..65535; scale them to 0..255 so ``convert`` keeps detail."""
    if frame.mode.startswith("I;16"):
        frame = frame.convert("I")
        return frame.point(lambda v: v * (1 / 257))
    if frame.mode == "I":
        return frame.point(lambda v: v * (1 / 255))
    return frame


def upright(frame: Image.Image) -> Image.Image:
    """A frame as it is meant to be seen: EXIF orientation applied, integer pixels in 8-bit range."""
    return to_8bit_range(ImageOps.exif_transpose(frame))


def load_rgb(path: str) -> torch.Tensor:
    """The first frame of a picture file, upright, as uint8 ``[3,H,W]``.

    Any failure, a decompression bomb included, is an OSError or a ValueError naming the file.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as img:
                img.load()
                rgb = upright(img).convert("RGB")
        except (OSError, ValueError):
            raise
        except UNREADABLE as exc:  # Pillow's other failures: a decompression bomb, a broken header
            raise ValueError(f"{path}: unreadable image ({exc})") from None
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).contiguous()


#: Rows converted per step by ``to_pil``: the float temporaries stay a few MB whatever the picture's size.
_ROWS_PER_BAND = 256


def to_pil(image: torch.Tensor) -> Image.Image:
    """A picture in 0..1 → an 8-bit PIL image, rounded like ComfyUI (truncation).

    ``image``: one frame ``[H,W,3]`` (or ``[H,W]``) as ComfyUI holds them, or the model API's ``[1,3,H,W]``.
    Converted in bands of rows into one uint8 array, so a huge frame never gets full-size float copies
    (a strided view, e.g. a permuted ``[3,H,W]`` tensor, is read in place).
    """
    image = image.detach()
    if image.dim() == 4:
        image = image[0].permute(1, 2, 0)
    out = np.empty(tuple(image.shape), dtype=np.uint8)
    for top in range(0, image.shape[0], _ROWS_PER_BAND):
        band = image[top:top + _ROWS_PER_BAND].cpu().float().mul(255.0).clamp_(0, 255)
        out[top:top + _ROWS_PER_BAND] = band.numpy().astype(np.uint8)
    return Image.fromarray(out)
