"""The public Python API of StyleFusion, used by the nodes, the CLI and training alike.

Images at this API are float tensors ``[B,3,H,W]`` in 0..1 (any H, W ≥ 64, any aspect ratio);
masks are ``[H,W]``, ``[B,H,W]`` or ``[B,1,H,W]`` in 0..1. Results are float32 on the model's device.

    features = extract_features(model, photo)            # E_c → ContentFeatures   (SF_FEATURES)
    style    = encode_style(model, painting)             # E_s → StyleVector       (SF_STYLE)
    image    = generate(model, features, style, strength=0.8, seed=1)   # G
    image    = transfer(model, photo, painting)          # all three in one call

``strength`` moves the style vector from the content image's own style (0: G reconstructs the
photo) to the target style (1). The same inputs and seed give the same output.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import torch
import torch.nn.functional as F

from ..networks.model import StyleFusionModel
from ..networks.color import keep_colors
from ..networks.errors import InputError, ModelMismatchError
from ..networks.feature_extractor import CONTENT_HALO, CONTENT_STRIDE, MARGIN, pad_to_stride, padded_crop, padded_size
from ..networks.fusion import fuse_content, mix_vectors
from ..networks.generator import RENDER_HALO, make_noise
from ..networks.tiling import Progress, memory_format_of, run_tiled
from ..networks.values import (ContentFeatures, StyleVector, all_finite, check_model, check_pair, check_same_model,
                               check_value)

MIN_SIZE = 64
DEFAULT_TILE_OVERLAP = 64


# -- input checks ---------------------------------------------------------------------------------
def check_image(image, name: str = "image") -> torch.Tensor:
    """Validate an image batch [B,3,H,W] in 0..1; return it as a float tensor."""
    if not isinstance(image, torch.Tensor):
        raise InputError(f"{name}: expected an image tensor [B,3,H,W], got {type(image).__name__}")
    if image.dim() == 3:
        raise InputError(f"{name}: expected a batch [B,3,H,W], got shape {tuple(image.shape)}; add a batch dimension")
    if image.dim() != 4:
        raise InputError(f"{name}: expected shape [B,3,H,W], got {tuple(image.shape)}")
    if image.shape[0] == 0:
        raise InputError(f"{name}: the image batch is empty (0 images); connect at least one image")
    if image.shape[1] != 3:
        raise InputError(
            f"{name}: expected 3 colour channels (RGB), got {image.shape[1]}; convert grayscale or RGBA images to RGB first"
        )
    h, w = image.shape[-2:]
    if h < MIN_SIZE or w < MIN_SIZE:
        raise InputError(f"{name}: {w}x{h} px is too small; images must be at least {MIN_SIZE}x{MIN_SIZE} px")
    if not image.is_floating_point():
        image = _integer_image(image, name)
    if not all_finite(image):
        raise InputError(f"{name}: contains NaN or infinite values; check the node that produced it")
    return image


def _integer_image(image: torch.Tensor, name: str) -> torch.Tensor:
    """An integer image holds 8-bit values 0..255 (any integer dtype): scaled to 0..1. Anything else
    (bool, complex, values outside 0..255) is refused rather than rendered white or black."""
    if image.dtype == torch.bool or image.is_complex():
        raise InputError(f"{name}: a {str(image.dtype).replace('torch.', '')} tensor is not an image; give float "
                         "values in 0..1 or 8-bit integers 0..255")
    if image.dtype != torch.uint8:
        low, high = int(image.min()), int(image.max())
        if low < 0 or high > 255:
            raise InputError(f"{name}: integer values {low}..{high} are not 8-bit (0..255); give float values in 0..1 "
                             "or integers 0..255")
    return image.float().div_(255.0)


def check_mask(mask, batch: int, name: str = "mask") -> torch.Tensor:
    """Validate a mask ([H,W], [B,H,W] or [B,1,H,W]) against a batch of ``batch``; return [B|1,1,H,W] float."""
    if not isinstance(mask, torch.Tensor):
        raise InputError(f"{name}: expected a mask tensor, got {type(mask).__name__}")
    if mask.dim() == 2:
        mask = mask[None, None]
    elif mask.dim() == 3:
        mask = mask[:, None]
    elif not (mask.dim() == 4 and mask.shape[1] == 1):
        raise InputError(f"{name}: expected shape [H,W], [B,H,W] or [B,1,H,W], got {tuple(mask.shape)}")
    if mask.shape[0] not in (1, batch):
        raise InputError(
            f"{name}: has {mask.shape[0]} masks for a batch of {batch} images; give one mask or one per image"
        )
    if mask.shape[-1] == 0 or mask.shape[-2] == 0:
        raise InputError(f"{name}: the mask is empty")
    mask = mask.float()
    if not all_finite(mask):
        raise InputError(f"{name}: contains NaN or infinite values")
    return mask.clamp(0, 1)


def check_unit(value: float, name: str, low: float = 0.0, high: float = 1.0) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a number between {low} and {high}, got {value!r}") from None
    if not (low <= value <= high) or math.isnan(value):
        raise InputError(f"{name}: {value} is out of range; use a value between {low} and {high}")
    return value


def check_weights(weights, count: int, name: str = "weights") -> list[float]:
    """Mix weights: one finite number ≥ 0 per style, at least one > 0."""
    try:
        values = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected one number per style, got {weights!r}") from None
    if len(values) != count:
        raise InputError(f"{name}: give one weight per style ({count}), got {len(values)}")
    if not all(math.isfinite(w) for w in values):
        raise InputError(f"{name}: {values} holds NaN or infinity; give finite weights ≥ 0")
    return values


def _broadcast(batch: int, tensor: torch.Tensor, name: str) -> torch.Tensor:
    if tensor.shape[0] == batch:
        return tensor
    if tensor.shape[0] == 1:
        return tensor.expand(batch, *tensor.shape[1:])
    raise InputError(f"{name}: has a batch of {tensor.shape[0]}, expected 1 or {batch}")


def _to_model(model: StyleFusionModel, x: torch.Tensor) -> torch.Tensor:
    return x.to(device=model.device, dtype=model.dtype)


# -- the four steps ---------------------------------------------------------------------------------
@torch.no_grad()
def extract_features(
    model: StyleFusionModel, image: torch.Tensor, tile_size: int = 0, progress: Progress | None = None
) -> ContentFeatures:
    """E_c: content code of ``image`` [B,3,H,W]. ``tile_size`` > 0 bounds memory for huge images."""
    check_model(model)
    image = check_image(image, "image")
    return _extract_features(model, image, tile_size, progress, model.style_encoder(_to_model(model, image)))


def _extract_features(model, image, tile_size, progress, source_style) -> ContentFeatures:
    """``extract_features`` for a checked ``image`` with its source style already known."""
    net = model.feature_extractor
    hp, wp = padded_size(*image.shape[-2:])
    if tile_size and max(hp, wp) > tile_size:
        halo = CONTENT_HALO

        def region(r):
            top, left, bottom, right = r
            t, l = max(0, top - halo), max(0, left - halo)
            b, rr = min(hp, bottom + halo), min(wp, right + halo)
            code = net(_to_model(model, padded_crop(image, t, l, b, rr)))
            s = CONTENT_STRIDE
            return code[..., (top - t) // s:(bottom - t) // s, (left - l) // s:(right - l) // s]

        # Tiles are in image px; outputs are stride-8 cells, so assemble on the cell grid.
        code = _tiled_cells(region, hp, wp, tile_size, progress)
    else:
        code = net(_to_model(model, pad_to_stride(image)))
    return ContentFeatures(code, image, source_style, model.fingerprint, model.config.name)


def _tiled_cells(region, height: int, width: int, tile: int, progress) -> torch.Tensor:
    """Run a stride-8 region function over tiles without overlap (its halo makes tiles exact)."""
    s = CONTENT_STRIDE
    tile = max(s * 8, tile // s * s)
    total = math.ceil(height / tile) * math.ceil(width / tile)
    done = 0
    code = None
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            piece = region((top, left, bottom, right))
            if code is None:  # written in place: no per-row and final concatenated copies
                code = piece.new_empty(piece.shape[0], piece.shape[1], height // s, width // s)
                code = code.contiguous(memory_format=memory_format_of(piece))
            code[..., top // s:bottom // s, left // s:right // s] = piece
            done += 1
            if progress is not None:
                progress(done, total)
    return code


@torch.no_grad()
def encode_style(
    model: StyleFusionModel,
    image: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduce: str = "per_image",
    name: str = "style",
) -> StyleVector:
    """E_s: style vector of each image [B,D] (``reduce="average"`` → one vector [1,D]).

    ``mask`` picks where in the image the style is taken from (white = use this region).
    """
    check_model(model)
    image = check_image(image, "image")
    if reduce not in ("per_image", "average"):
        raise InputError(f"reduce: unknown value {reduce!r}; use 'per_image' or 'average'")
    m = None
    if mask is not None:
        m = check_mask(mask, image.shape[0], "mask")
        flat = F.interpolate(m, size=image.shape[-2:], mode="bilinear", align_corners=False)
        if (flat.flatten(1).amax(dim=1) <= 0).any():
            raise InputError("mask: is empty (all black) for at least one image; paint the region to take the style from")
        m = _to_model(model, _broadcast(image.shape[0], flat, "mask"))
    vectors = model.style_encoder(_to_model(model, image), m).float()
    if reduce == "average":
        vectors = vectors.mean(dim=0, keepdim=True)
    return StyleVector(vectors, model.fingerprint, model.config.name, name)


def fuse_features(
    a: ContentFeatures, b: ContentFeatures, weight: float = 0.5, mask: torch.Tensor | None = None, mode: str = "blend"
) -> ContentFeatures:
    """Fuse two content codes (B resized to A; the result has A's size). See ``fusion.fuse_content``."""
    check_pair(a, b, "features_a", "features_b")
    weight = check_unit(weight, "weight")
    batch = a.batch_size
    b_code = _broadcast(batch, b.tensor, "features_b")
    m = None if mask is None else check_mask(mask, batch, "mask")
    code = fuse_content(a.tensor, b_code, weight, None if m is None else m.to(a.tensor.device), mode)
    image = fuse_content(a.image, _broadcast(batch, b.image, "features_b").to(a.image), weight,
                         None if m is None else m.to(a.image.device), "blend" if mode == "stats" else mode)
    style = a.source_style + (_broadcast(batch, b.source_style, "features_b") - a.source_style) * weight
    return replace(a, tensor=code, image=image, source_style=style)


def mix_styles(styles: Sequence[StyleVector], weights: Sequence[float], mode: str = "lerp") -> StyleVector:
    """Mix N style vectors with weights (lerp or slerp). Batches broadcast (1 or a common B)."""
    if not styles:
        raise InputError("styles: give at least one style")
    check_value(styles[0], StyleVector, "style_1")
    for i, s in enumerate(styles[1:], start=2):
        check_pair(styles[0], s, "style_1", f"style_{i}")
    weights = check_weights(weights, len(styles))
    batch = max(s.batch_size for s in styles)
    tensors = [_broadcast(batch, s.tensor, f"style_{i + 1}") for i, s in enumerate(styles)]
    mixed = mix_vectors(tensors, list(weights), mode)
    total = sum(weights) or 1.0
    name = " + ".join(f"{s.name}×{w / total:.2f}" for s, w in zip(styles, weights) if w > 0)
    return replace(styles[0], tensor=mixed, name=name)


@torch.no_grad()
def generate(
    model: StyleFusionModel,
    features: ContentFeatures,
    style: StyleVector,
    strength: float = 1.0,
    preserve_color: bool = False,
    seed: int = 0,
    style_b: StyleVector | None = None,
    mask: torch.Tensor | None = None,
    tile_size: int = 0,
    tile_overlap: int = DEFAULT_TILE_OVERLAP,
    progress: Progress | None = None,
) -> torch.Tensor:
    """G: render ``features`` in ``style`` → image [B,3,H,W] float32 in 0..1 (the features' source size).

    ``style_b`` + ``mask``: style b where the mask is white, ``style`` elsewhere. ``tile_size`` > 0
    renders in overlapping tiles (memory bounded by the tile). Noise is shared by every image of the
    batch, so frames of a video get the same texture.
    """
    check_same_model(model, features, "features", ContentFeatures)
    check_same_model(model, style, "style", StyleVector)
    strength = check_unit(strength, "strength")
    batch = features.batch_size
    gen = model.generator
    content = _to_model(model, features.tensor)
    source = _to_model(model, features.source_style)
    target = _to_model(model, style.tensor)
    if strength == 1.0 and target.shape[0] == 1:
        # One style for the whole batch: its parameters broadcast, so a batch renders with one set of
        # modulated weights (s + (t − s)·1 = t).
        params = gen.style_params(target)
    else:
        target = _broadcast(batch, target, "style")
        params = gen.style_params(source + (target - source) * strength)
    hp, wp = content.shape[-2] * CONTENT_STRIDE, content.shape[-1] * CONTENT_STRIDE
    if style_b is not None or mask is not None:
        if style_b is None or mask is None:
            raise InputError("style_b: a second style needs a mask saying where it goes (and a mask needs style_b)")
        check_same_model(model, style_b, "style_b", StyleVector)
        m = check_mask(mask, batch, "mask")
        h, w = features.image_size
        m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        m = F.pad(m, (MARGIN, wp - w - MARGIN, MARGIN, hp - h - MARGIN), mode="replicate")
        m = _to_model(model, _broadcast(batch, m, "mask"))
        target_b = _to_model(model, _broadcast(batch, style_b.tensor, "style_b"))
        params = gen.blend_params(params, gen.style_params(source + (target_b - source) * strength), m)
    noise = make_noise(seed, hp, wp, gen.noise_strides, model.device, model.dtype)
    body = gen.body(content, params)

    tiled = bool(tile_size) and max(hp, wp) > tile_size
    if tiled:
        halo = RENDER_HALO
        s = CONTENT_STRIDE

        def region(r):
            top, left, bottom, right = r
            t, l = max(0, top - halo), max(0, left - halo)
            b, rr = min(hp, bottom + halo), min(wp, right + halo)
            p = [_slice_param(q, t, l, b, rr) for q in params]
            z = [n[..., t // k:b // k, l // k:rr // k] for n, k in zip(noise, gen.noise_strides)]
            out = gen.render(body[..., t // s:b // s, l // s:rr // s], p, z)
            return out[..., top - t:bottom - t, left - l:right - l]

        image = run_tiled(region, hp, wp, tile_size, tile_overlap, CONTENT_STRIDE, progress)
    else:
        image = gen.render(body, params, noise)
    h, w = features.image_size
    image = image[..., MARGIN:MARGIN + h, MARGIN:MARGIN + w].float()
    if preserve_color:
        _keep_colors_in_place(image, features.image)
    return image.clamp_(0, 1)  # G's raw output is thumbnail + residual; clamp in place, no extra copy


def _keep_colors_in_place(image: torch.Tensor, original: torch.Tensor, rows: int = 256) -> None:
    """``image[:] = keep_colors(image, original)`` band by band: no full-size colour-space copies."""
    for top in range(0, image.shape[-2], rows):
        band = image[..., top:top + rows, :]
        band.copy_(keep_colors(band, original[..., top:top + rows, :].to(band)))


def _slice_param(param, top, left, bottom, right):
    if isinstance(param, tuple):  # region style: crop the mask to the tile
        a, b, mask = param
        return a, b, mask[..., top:bottom, left:right]
    return param


def transfer(
    model: StyleFusionModel,
    content: torch.Tensor,
    style: torch.Tensor,
    strength: float = 1.0,
    preserve_color: bool = False,
    seed: int = 0,
    tile_size: int = 0,
    tile_overlap: int = DEFAULT_TILE_OVERLAP,
    progress: Progress | None = None,
) -> torch.Tensor:
    """One-shot style transfer: ``content`` [B,3,H,W] in the style of ``style`` [1|B,3,h,w]."""
    check_model(model)
    content = check_image(content, "content")
    style_vec = encode_style(model, check_image(style, "style"))
    with torch.no_grad():
        if check_unit(strength, "strength") == 1.0:
            # At full strength the content's own style drops out (s + (t − s)·1 = t): skip E_s on it.
            source_style = _to_model(model, _broadcast(content.shape[0], style_vec.tensor, "style"))
        else:
            source_style = model.style_encoder(_to_model(model, content))
        features = _extract_features(model, content, tile_size, None, source_style)
    return generate(model, features, style_vec, strength, preserve_color, seed,
                    tile_size=tile_size, tile_overlap=tile_overlap, progress=progress)


def fuse_images(
    model: StyleFusionModel,
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    weight: float = 0.5,
    mask: torch.Tensor | None = None,
    style_source: str = "mix",
    seed: int = 0,
    mode: str | None = None,
) -> torch.Tensor:
    """One-shot image fusion: blend A's and B's content codes (by ``weight``, or by ``mask`` where
    white = B) and render with the style of A, B or their mix. The result has A's size."""
    check_model(model)
    if style_source not in ("a", "b", "mix"):
        raise InputError(f"style_source: unknown value {style_source!r}; use 'a', 'b' or 'mix'")
    weight = check_unit(weight, "weight")
    fa = extract_features(model, check_image(image_a, "image_a"))
    fb = extract_features(model, check_image(image_b, "image_b"))
    mode = mode or ("mask" if mask is not None else "blend")
    fused = fuse_features(fa, fb, 1.0 if mode == "mask" else weight, mask, mode)
    sa = StyleVector(fa.source_style.float(), model.fingerprint, model.config.name, "a")
    sb = StyleVector(fb.source_style.float(), model.fingerprint, model.config.name, "b")
    style = {"a": sa, "b": sb}.get(style_source) or mix_styles([sa, sb], [1 - weight, weight], "slerp")
    return generate(model, fused, style, 1.0, False, seed)

