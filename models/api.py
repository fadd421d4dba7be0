"""The public Python API of StyleFusion, used by the nodes, the CLI and training alike.

Images at this API are float tensors ``[B,3,H,W]`` in 0..1 (any H, W ≥ 64, any aspect ratio);
masks are ``[H,W]``, ``[B,H,W]`` or ``[B,1,H,W]`` in 0..1. Results are float32 on the model's device.

    features = extract_features(model, photo)            # E_c → ContentFeatures   (SF_FEATURES)
    style    = encode_style(model, painting)             # E_s → StyleVector       (SF_STYLE)
    image    = generate(model, features, style, strength=0.85, seed=1)  # G
    image    = transfer(model, photo, painting)          # all three in one call
    refined  = refine_style(model, features, style, 40)  # s fitted to this picture (vgg16 models)

``strength`` moves the style vector from the content image's own style (0: G reconstructs the
photo) to the target style (1). ``refine_steps`` (generate, transfer) first fits the style vector to
the picture (``refine_style``); the nodes and the CLI default to DEFAULT_STRENGTH and to
AUTO_REFINE_STEPS (the model's own number of steps). The same inputs and seed give the same output.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Sequence

import torch
import torch.nn.functional as F

from ..networks.model import StyleFusionModel
from ..networks.errors import InputError
from ..networks.fusion import fuse_content, mix_vectors
from ..networks.feature_extractor import padded_size
from ..networks.generator import DEFAULT_TILE_OVERLAP, streams
from ..networks.refine import StyleFit
from ..networks.style_encoder import VGGStyleEncoder
from ..networks.tiling import Progress
from ..networks.values import (ContentFeatures, StyleVector, all_finite, check_model, check_pair, check_same_model,
                               check_value)

MIN_SIZE = 64
#: Most Adam steps ``refine_style`` takes.
MAX_REFINE_STEPS = 1000
#: ``refine_steps`` meaning "the model's own default": DEFAULT_REFINE_STEPS when the model can refine the
#: style (its E_s is vgg16 and the style has image statistics), else 0. The nodes' and the CLI's default.
AUTO_REFINE_STEPS = -1
#: What AUTO_REFINE_STEPS runs on a model that can refine (judged best per second on never-seen paintings).
DEFAULT_REFINE_STEPS = 40
#: The nodes' and the CLI's default strength.
DEFAULT_STRENGTH = 0.85


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


def check_refine_steps(steps) -> int:
    """Steps of style refinement: a whole number 0..MAX_REFINE_STEPS (0 = no refinement), or
    AUTO_REFINE_STEPS (-1, the model's default)."""
    whole = isinstance(steps, int) or (isinstance(steps, float) and steps.is_integer())
    if isinstance(steps, bool) or not whole or not AUTO_REFINE_STEPS <= steps <= MAX_REFINE_STEPS:
        raise InputError(f"refine_steps: {steps!r} is not a whole number from 0 to {MAX_REFINE_STEPS}; "
                         f"use 0 (no refinement), e.g. {DEFAULT_REFINE_STEPS}, or -1 (the model's default)")
    return int(steps)


def can_refine(model: StyleFusionModel, *styles: StyleVector | None) -> bool:
    """Whether ``model`` can refine ``styles`` (None entries are ignored): its E_s is vgg16 and every style
    has image statistics."""
    return isinstance(model.style_encoder, VGGStyleEncoder) and all(
        s is None or s.statistics is not None for s in styles)


def resolve_refine_steps(model: StyleFusionModel, steps, *styles: StyleVector | None) -> int:
    """``steps`` checked, with AUTO_REFINE_STEPS resolved for ``model`` and ``styles``: DEFAULT_REFINE_STEPS
    when it can refine them, else 0 (so a model without a vgg16 E_s, or an old style file, renders exactly
    as it did before refinement existed)."""
    steps = check_refine_steps(steps)
    if steps == AUTO_REFINE_STEPS:
        return DEFAULT_REFINE_STEPS if can_refine(model, *styles) else 0
    return steps


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
    code = model.feature_extractor.encode(image, tile_size, progress, fused=model.fused)
    return ContentFeatures(code, image, source_style, model.fingerprint, model.config.name)


@torch.no_grad()
def encode_style(
    model: StyleFusionModel,
    image: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduce: str = "per_image",
    name: str = "style",
) -> StyleVector:
    """E_s: style vector of each image [B,D] (``reduce="average"`` → one vector [1,D]).

    ``mask`` picks where in the image the style is taken from (white = use this region). A vgg16 E_s
    also returns what it read of the images (``StyleVector.statistics``; averaged with the vectors).
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
    encoder = model.style_encoder
    statistics = None
    if isinstance(encoder, VGGStyleEncoder):
        # One VGG16 pass: the statistics are kept with the vector (refine_style fits against them).
        statistics = encoder.describe(_to_model(model, image), m)
        vectors = encoder.from_statistics(statistics).float()
    else:
        vectors = encoder(_to_model(model, image), m).float()
    if reduce == "average":
        vectors = vectors.mean(dim=0, keepdim=True)
        statistics = None if statistics is None else statistics.mean(dim=0, keepdim=True)
    return StyleVector(vectors, model.fingerprint, model.config.name, name, statistics)


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
    statistics = None
    if all(s.statistics is not None for s in styles):
        # Statistics mix linearly in either mode: they are what the images hold, not a direction.
        statistics = sum(_broadcast(batch, s.statistics, f"style_{i + 1}") * (w / total)
                         for i, (s, w) in enumerate(zip(styles, weights)))
    return replace(styles[0], tensor=mixed, name=name, statistics=statistics)


def refine_style(
    model: StyleFusionModel,
    features: ContentFeatures | torch.Tensor,
    style: StyleVector,
    steps: int,
    size: int = 128,
    lr: float = 0.1,
    content_weight: float = 0.1,
    seed: int = 0,
    name: str = "style",
    palette_weight: float = 1.0,
) -> StyleVector:
    """``style`` fitted to the pictures of ``features`` (ContentFeatures, or the image batch [B,3,H,W]
    itself: only the pictures are used): one vector per picture [B,D] (the style broadcast to the batch
    as ``generate`` does), fitted by ``steps`` Adam steps so that G's rendering of the picture — at
    ``size`` px on its short side — has the VGG16 channel statistics and the palette E_s read of the
    painting (``networks/refine.py``). The result renders more of the painting's colours and contrast;
    it keeps the style's model and statistics, and its name gets " (refined)". Needs a model whose E_s
    is vgg16 and a style it encoded (with statistics); ``name`` is the style's input name in errors.
    ``steps`` 0 returns ``style`` unchanged; AUTO_REFINE_STEPS (-1) fits DEFAULT_REFINE_STEPS where the
    model can refine and returns ``style`` otherwise. The model's weights are not touched. The cost per
    step and picture is fixed by ``size``, not by the picture's size (at 128: G and VGG16 to relu4_1,
    forward and backward, on about 128×224 px).
    """
    if torch.is_tensor(features):
        check_model(model)
        image = check_image(features, "image")
    else:
        check_same_model(model, features, "features", ContentFeatures)
        image = features.image
    check_same_model(model, style, name, StyleVector)
    return _refine(model, image, style, steps, size, lr, content_weight, seed, name, palette_weight)


def _refine(model, image, style, steps, size=128, lr=0.1, content_weight=0.1, seed=0, name="style",
            palette_weight=1.0) -> StyleVector:
    """``refine_style`` for a checked ``image`` [B,3,H,W] and a ``style`` of this model (input ``name``)."""
    steps = resolve_refine_steps(model, steps, style)
    if steps == 0:
        return style
    if not isinstance(model.style_encoder, VGGStyleEncoder):
        raise InputError(f"refine_steps: model {model.display_name} has no VGG16 style encoder to refine with; "
                         "set refine_steps to 0 or load a model with style_features 'vgg16' "
                         "(the bundled stylefusion-v2 has one)")
    if style.statistics is None:
        raise InputError(f"{name}: has no image statistics to refine against (made by an older version or loaded "
                         "from an old style file); encode it again with Encode Style, or set refine_steps to 0")
    width = model.style_encoder.to_vector[0].in_features
    if style.statistics.dim() != 2 or style.statistics.shape[1] != width:
        raise InputError(f"{name}: its image statistics have shape {tuple(style.statistics.shape)}, the model reads "
                         f"[B,{width}]; encode it again with Encode Style")
    if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= 2048:
        raise InputError(f"size: {size!r} is not a whole number of pixels from 32 to 2048; 128 is a good value")
    lr = check_unit(lr, "lr", 1e-6, 10.0)
    content_weight = check_unit(content_weight, "content_weight", 0.0, 100.0)
    palette_weight = check_unit(palette_weight, "palette_weight", 0.0, 100.0)
    batch = image.shape[0]
    vectors = _broadcast(batch, style.tensor, name)
    statistics = _broadcast(batch, style.statistics, name)
    photo = _fit_picture(image.to(device=model.device, dtype=torch.float32), size)
    fitted = StyleFit(model, photo, statistics, content_weight, seed, palette_weight).fit(vectors, steps, lr)
    return replace(style, tensor=fitted.to(style.tensor.device), statistics=statistics.contiguous(),
                   name=f"{style.name} (refined)")


def _fit_picture(image: torch.Tensor, size: int) -> torch.Tensor:
    """``image`` [B,3,H,W] resized (antialiased bilinear) to ``size`` px on its short side, both sides
    rounded down to multiples of 8 (E_c's stride): the picture the style is fitted on."""
    h, w = image.shape[-2:]
    short = min(h, w)
    target = (h * size // short // 8 * 8, w * size // short // 8 * 8)
    return F.interpolate(image, size=target, mode="bilinear", align_corners=False, antialias=True)


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
    refine_steps: int = 0,
) -> torch.Tensor:
    """G: render ``features`` in ``style`` → image [B,3,H,W] float32 in 0..1 (the features' source size).

    ``style_b`` + ``mask``: style b where the mask is white, ``style`` elsewhere. ``tile_size`` > 0
    renders in overlapping tiles (memory bounded by the tile). Noise is shared by every image of the
    batch, so frames of a video get the same texture. ``refine_steps`` > 0 first fits ``style`` (and
    ``style_b``) to each picture (``refine_style``, with this seed; to give every frame of a video one
    fitted vector, refine the style on one frame first and render with 0);
    AUTO_REFINE_STEPS (-1, the nodes' default) = DEFAULT_REFINE_STEPS where the model can refine, else 0.
    """
    check_same_model(model, features, "features", ContentFeatures)
    check_same_model(model, style, "style", StyleVector)
    strength = check_unit(strength, "strength")
    if (style_b is None) != (mask is None):
        raise InputError("style_b: a second style needs a mask saying where it goes (and a mask needs style_b)")
    if style_b is not None:
        check_same_model(model, style_b, "style_b", StyleVector)
    refine_steps = resolve_refine_steps(model, refine_steps, style, style_b)
    if refine_steps:
        style = _refine(model, features.image, style, refine_steps, seed=seed)
        if style_b is not None:
            style_b = _refine(model, features.image, style_b, refine_steps, seed=seed, name="style_b")
    return _generate(model, features.tensor, features.image, features.source_style, style, strength,
                     preserve_color, seed, style_b, mask, tile_size, tile_overlap, progress)


@torch.no_grad()
def _generate(model, code, image, source_style, style, strength, preserve_color, seed, style_b, mask, tile_size,
              tile_overlap, progress) -> torch.Tensor:
    """``generate`` for a checked code (or a ``CodeRegion``) of ``image`` [B,3,H,W]: the rest of the
    checks, then G (``Generator.generate``)."""
    batch = image.shape[0]
    target = _to_model(model, style.tensor)
    if strength != 1.0 or target.shape[0] != 1:
        target = _broadcast(batch, target, "style")
    target_b = m = None
    if style_b is not None:
        check_same_model(model, style_b, "style_b", StyleVector)
        m = F.interpolate(check_mask(mask, batch, "mask"), size=image.shape[-2:], mode="bilinear", align_corners=False)
        m = _to_model(model, _broadcast(batch, m, "mask"))
        target_b = _to_model(model, _broadcast(batch, style_b.tensor, "style_b"))
    code = code if callable(code) else _to_model(model, code)
    return model.generator.generate(
        code, _to_model(model, source_style), target, tuple(image.shape[-2:]), strength, seed, target_b, m,
        image if preserve_color else None, tile_size, tile_overlap, progress, fused=model.fused)


def transfer(
    model: StyleFusionModel,
    content: torch.Tensor,
    style: torch.Tensor | StyleVector,
    strength: float = 1.0,
    preserve_color: bool = False,
    seed: int = 0,
    tile_size: int = 0,
    tile_overlap: int = DEFAULT_TILE_OVERLAP,
    progress: Progress | None = None,
    refine_steps: int = 0,
) -> torch.Tensor:
    """One-shot style transfer: ``content`` [B,3,H,W] in the style of ``style``, a picture [1|B,3,h,w] or a
    StyleVector of this model already encoded; ``refine_steps`` as in ``generate``."""
    check_model(model)
    content = check_image(content, "content")
    strength = check_unit(strength, "strength")
    refine_steps = check_refine_steps(refine_steps)
    if isinstance(style, StyleVector):
        check_same_model(model, style, "style", StyleVector)
        style_vec = style
    else:
        style_vec = encode_style(model, check_image(style, "style"))
    refine_steps = resolve_refine_steps(model, refine_steps, style_vec)
    if refine_steps:
        style_vec = _refine(model, content, style_vec, refine_steps, seed=seed)
    with torch.no_grad():
        if strength == 1.0:
            # At full strength the content's own style drops out (s + (t − s)·1 = t): skip E_s on it.
            source_style = _to_model(model, _broadcast(content.shape[0], style_vec.tensor, "style"))
        else:
            source_style = model.style_encoder(_to_model(model, content))
        E_c = model.feature_extractor
        if streams(tile_size, *padded_size(*content.shape[-2:])):
            # Too large to hold its stride-8 maps: G asks E_c for the code of each region it renders.
            code = functools.partial(E_c.encode_region, content, fused=model.fused)
        else:
            code = E_c.encode(content, tile_size, None, fused=model.fused)
    return _generate(model, code, content, source_style, style_vec, strength, preserve_color, seed, None, None,
                     tile_size, tile_overlap, progress)


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

