"""Image files in and out for the runner and the CLI, with ComfyUI's conventions.

``IMAGE`` is float32 ``[B,H,W,3]`` in 0..1 and ``MASK`` is ``[B,H,W]`` in 0..1, as in ComfyUI. Decoding
follows core ``LoadImage``: every frame is upright and in 8-bit range (``storage/images.py``, the rules
training shares), every frame of an animation of the first frame's size becomes one batch entry,
grayscale and palette images become RGB, and an alpha channel becomes the mask *inverted* (ComfyUI's
mask is 1 where the picture is transparent; an image without alpha gets core's 64×64 zero mask). What
is the runner's own: the size limit, errors that name the input, and saving with workflow metadata.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from typing import Mapping

import numpy as np
import torch
from PIL import Image, ImageSequence, PngImagePlugin

from ..storage.images import UNREADABLE, to_pil, upright
from ..storage.weights import atomic_path
from .errors import InputFileError, WorkflowError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MASK_CHANNELS = ("alpha", "red", "green", "blue")


#: Environment variable raising Pillow's decompression-bomb limit, in megapixels (0 = no limit).
MAX_MEGAPIXELS_ENV = "STYLEFUSION_MAX_MEGAPIXELS"


def max_image_pixels() -> int | None:
    """The largest picture (in pixels) read: Pillow's default (about 179 MP refused) unless
    ``STYLEFUSION_MAX_MEGAPIXELS`` says otherwise (``0``: no limit, for trusted files only)."""
    text = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip()
    if not text:
        return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None
    try:
        megapixels = float(text)
    except ValueError:
        raise InputFileError(f"{MAX_MEGAPIXELS_ENV}: {text!r} is not a number of megapixels (e.g. 500, or 0 for "
                             "no limit)") from None
    return None if megapixels <= 0 else int(megapixels * 1_000_000)


def open_image(path: str, what: str = "image") -> Image.Image:
    """Open a picture, turning every failure into an InputFileError naming ``what`` and the file.

    Only regular files are opened (a FIFO would hang). Pictures larger than ``max_image_pixels()``
    are refused before they are decoded: a tiny file can claim gigapixels (a decompression bomb).
    """
    if not os.path.isfile(path):
        raise InputFileError(f"{what}: file not found: {path}")
    limit = max_image_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = _open_with_limit(path, limit)
        pixels = img.width * img.height
        if limit is not None and pixels > limit:
            img.close()
            raise _too_large(what, path, pixels, limit, f"{img.width}x{img.height}")
        img.load()
    except InputFileError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own check, at the same limit
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(what, path, int(found.group(1)) if found else (limit or 0) + 1, limit or 0, "") from None
    except UNREADABLE as exc:
        raise InputFileError(f"{what}: cannot read {path} as an image ({exc})") from None
    return img


def _too_large(what: str, path: str, pixels: int, limit: int, size: str) -> InputFileError:
    return InputFileError(
        f"{what}: {path} is {size + ' ' if size else ''}({pixels / 1e6:.0f} megapixels), more than the "
        f"{limit / 1e6:.0f} megapixels read by default as a guard against decompression bombs; if you "
        f"trust the file, set {MAX_MEGAPIXELS_ENV}={int(pixels / 1e6) + 1} and render with --tile-size 1024")


def _open_with_limit(path: str, limit: int | None) -> Image.Image:
    """Image.open with Pillow's bomb check no stricter than ``limit`` (``open_image`` applies ``limit`` itself).

    Pillow reads a module global; flipping it around one call would race with other threads (ComfyUI's
    server, data loaders). So it is only ever raised, and only when the user opted in to a larger limit
    (``STYLEFUSION_MAX_MEGAPIXELS``), for the rest of the process.
    """
    pillow = Image.MAX_IMAGE_PIXELS
    if pillow is not None and (limit is None or limit > 2 * pillow):
        Image.MAX_IMAGE_PIXELS = None if limit is None else limit // 2 + 1
    return Image.open(path)


def decode_image(img: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """Core LoadImage semantics → (IMAGE [B,H,W,3], MASK [B,H,W]); see the module docstring."""
    images, masks = [], []
    size = None
    for frame in ImageSequence.Iterator(img):
        frame = upright(frame)
        rgb = frame.convert("RGB")
        if size is None:
            size = rgb.size
        elif rgb.size != size:
            continue  # core skips frames whose size differs from the first
        # uint8 → float in place: one float copy per frame (a 400 MP photo is 4.8 GB as float32).
        pixels = np.asarray(rgb)
        images.append(torch.from_numpy(pixels).float().div_(255.0) if pixels.flags.writeable
                      else torch.tensor(pixels, dtype=torch.float32).div_(255.0))
        del rgb
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
    if len(images) == 1:  # no stacked copy of a single picture
        return images[0][None], masks[0][None]
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
        frame = upright(img)
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
    frame = upright(img)
    return torch.from_numpy(np.asarray(frame.convert("L"), dtype=np.float32) / 255.0)[None]


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
               compress_level: int = 4, exclusive: bool = False) -> str:
    """Write one frame [H,W,3]; PNG files get ``texts`` as text chunks. The format follows the extension.

    Written atomically (a killed process never leaves a half-written picture under ``path``); with
    ``exclusive`` an existing ``path`` is never replaced (FileExistsError instead).
    """
    ext = os.path.splitext(path)[1].lower()
    fmt = "PNG" if ext == ".png" or not ext else "JPEG" if ext in (".jpg", ".jpeg") else Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise WorkflowError(f"output: cannot write {path}: {ext!r} is not an image format Pillow can write; "
                            "use .png, .jpg or .webp")
    pil = to_pil(image)
    options = {"pnginfo": png_metadata(texts), "compress_level": compress_level} if fmt == "PNG" else \
        {"quality": 95} if fmt == "JPEG" else {}
    with atomic_path(path, exclusive=exclusive) as tmp:
        try:
            pil.save(tmp, format=fmt, **options)
        except (KeyError, ValueError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise WorkflowError(f"output: cannot write {path} ({exc.strerror})") from None
            raise WorkflowError(f"output: cannot write {path} as {fmt} ({exc})") from None
    return path


def read_png_texts(path: str) -> dict[str, str]:
    """The text chunks of a PNG file (ComfyUI stores "prompt" and "workflow" there)."""
    img = open_image(path, "workflow")
    return {k: v for k, v in getattr(img, "text", {}).items() if isinstance(v, str)}


def nhwc_to_nchw(image: torch.Tensor) -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,3] → the model API's [B,3,H,W], as a channels-last view (no full-size copy)."""
    return image.permute(0, 3, 1, 2)


def nchw_to_nhwc(image: torch.Tensor) -> torch.Tensor:
    """The model API's [B,3,H,W] → [B,H,W,3], as a view (``to_pil`` reads it band by band)."""
    return image.permute(0, 2, 3, 1)
