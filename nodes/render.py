"""Nodes that render images with the generator G: Generate, and the one-shot Style Transfer and Image Fusion.

Every IMAGE batch is rendered frame by frame with the same style vector and the same noise (seed),
so frames of a video stay consistent; ComfyUI's progress bar advances per frame (and per tile).
"""

from __future__ import annotations

from ..models import InputError, encode_style, fuse_images, generate, refine_style, transfer
from ..models.api import (AUTO_REFINE_STEPS, DEFAULT_REFINE_STEPS, DEFAULT_STRENGTH, DEFAULT_TILE_OVERLAP,
                          MAX_REFINE_STEPS, resolve_refine_steps)
from .convert import image_to_api, mask_to_api
from .declare import Node, image_spec, model_spec, output, weight_spec
from .frames import check_batch, features_frame, frame, render_frames, style_frame

MAX_SEED = 0xFFFF_FFFF_FFFF_FFFF


def strength_spec():
    return ("FLOAT", {"default": DEFAULT_STRENGTH, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
            "0 = keep the content image's own style, 1 = fully the target style."})


def preserve_color_spec():
    return ("BOOLEAN", {"default": False, "tooltip":
            "Keep the content image's colours and take only textures and brushwork from the style."})


def seed_spec():
    return ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "step": 1, "control_after_generate": True, "tooltip":
            "Seed of the noise that drives fine texture. The same seed gives the same result; every frame of a "
            "batch gets the same noise."})


def refine_steps_spec():
    return ("INT", {"default": AUTO_REFINE_STEPS, "min": AUTO_REFINE_STEPS, "max": MAX_REFINE_STEPS, "step": 1,
            "tooltip": "Fits the style vector to this picture before rendering, so the result takes more of the "
            f"painting's colours and contrast. -1 = the model's default: {DEFAULT_REFINE_STEPS} steps on a model "
            "with a vgg16 style encoder (stylefusion-v2), none on others (stylefusion-base). 0 = off. Costs about "
            "0.3 s per step on an idle 2-core CPU, a fixed cost per image (the fit runs at 128 px whatever the picture's "
            "size)."})


def refine_shared(model, first, steps, seed, style, style_b=None):
    """Styles shared by every frame of a batch, refined once on its ``first`` frame (features or image):
    every frame gets the same fitted vector and the fit is paid once → (style, style_b, the steps left for
    each frame: 0). Styles given per frame come back as they are, with ``steps``: each frame is refined on
    itself."""
    if style.batch_size != 1 or (style_b is not None and style_b.batch_size != 1):
        return style, style_b, steps
    steps = resolve_refine_steps(model, steps, style, style_b)
    style = refine_style(model, first, style, steps, seed=seed)
    if style_b is not None:
        style_b = refine_style(model, first, style_b, steps, seed=seed, name="style_b")
    return style, style_b, 0


def tile_specs():
    return {
        "tile_size": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 64, "tooltip":
                      "0 = render the whole image at once. Otherwise render in tiles of this many pixels to bound "
                      "memory for very large images (the result is the same, without seams)."}),
        "tile_overlap": ("INT", {"default": DEFAULT_TILE_OVERLAP, "min": 0, "max": 512, "step": 8, "tooltip":
                         "Pixels neighbouring tiles share and cross-fade (only used when tile_size > 0)."}),
    }


class StyleFusionGenerate(Node):
    CATEGORY = "StyleFusion/generate"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "IMAGE", "image", "The rendered images [B,H,W,3], the size of the features' source images.")
    FUNCTION = "generate"
    DESCRIPTION = (
        "Runs the generator G: renders content features in a style. strength slides from the content's own style "
        "to the target style. With style_b and a mask, style_b is painted where the mask is white (region styles)."
    )
    REQUIRED = {
        "model": model_spec("The StyleFusion model that made the features and the style."),
        "features": ("SF_FEATURES", {"tooltip": "Content features (Extract Features or Fuse Features)."}),
        "style": ("SF_STYLE", {"tooltip": "Target style (Encode Style, Mix Styles or Load Style); one style "
                                          "for every frame, or one per frame."}),
        "strength": strength_spec(),
        "preserve_color": preserve_color_spec(),
        "seed": seed_spec(),
        **tile_specs(),
    }
    OPTIONAL = {
        "style_b": ("SF_STYLE", {"tooltip": "Optional second style, used where the mask is white."}),
        "mask": ("MASK", {"tooltip": "Where style_b goes (white) instead of style (black); soft edges blend. "
                                     "Any size (resized to the image); one mask or one per frame."}),
        # Optional and last: workflows saved before it existed keep their widget order.
        "refine_steps": refine_steps_spec(),
    }

    def generate(self, model, features, style, strength, preserve_color, seed, tile_size=0,
                 tile_overlap=DEFAULT_TILE_OVERLAP, style_b=None, mask=None, refine_steps=AUTO_REFINE_STEPS):
        if (style_b is None) != (mask is None):
            missing = "mask" if mask is None else "style_b"
            raise InputError(f"{missing}: region styles need both style_b and a mask; connect {missing} "
                             f"or disconnect {'style_b' if missing == 'mask' else 'mask'}")
        batch = features.batch_size
        check_batch(style.batch_size, batch, "style", "style vectors")
        if style_b is not None:
            check_batch(style_b.batch_size, batch, "style_b", "style vectors")
        mask = mask_to_api(mask, batch, "mask")
        if batch > 1:
            style, style_b, refine_steps = refine_shared(model, features_frame(features, 0), refine_steps, seed,
                                                         style, style_b)
        return (render_frames(model, batch, lambda i, tiles: generate(
            model, features_frame(features, i), style_frame(style, i), strength, preserve_color, seed,
            style_frame(style_b, i), frame(mask, i), tile_size=tile_size, tile_overlap=tile_overlap,
            progress=tiles, refine_steps=refine_steps)),)


class StyleFusionStyleTransfer(Node):
    CATEGORY = "StyleFusion/one-shot"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "IMAGE", "image", "The stylised images, the size of the content images.")
    FUNCTION = "transfer"
    DESCRIPTION = (
        "One-shot style transfer: keeps the structure of the content image and paints it in the colours and "
        "textures of the style image (Extract Features + Encode Style + Generate in one node)."
    )
    REQUIRED = {
        "model": model_spec(),
        "content": image_spec("The photo (or video frames) to restyle; sets the output size."),
        "style": ("IMAGE", {"tooltip": "The style reference, e.g. a painting: one image for every frame, or one "
                                       "per frame."}),
        "strength": strength_spec(),
        "preserve_color": preserve_color_spec(),
        "seed": seed_spec(),
        **tile_specs(),
    }
    OPTIONAL = {
        # Optional: workflows saved before it existed keep their widget order.
        "refine_steps": refine_steps_spec(),
    }

    def transfer(self, model, content, style, strength, preserve_color, seed, tile_size=0,
                 tile_overlap=DEFAULT_TILE_OVERLAP, refine_steps=AUTO_REFINE_STEPS):
        content = image_to_api(content, "content")
        style = image_to_api(style, "style")
        check_batch(style.shape[0], content.shape[0], "style", "images")
        shared = None
        if content.shape[0] > 1 and style.shape[0] == 1:
            # A style shared by the frames is encoded once, and refined once on the first frame.
            shared, _, refine_steps = refine_shared(model, content[:1], refine_steps, seed, encode_style(model, style))
        return (render_frames(model, content.shape[0], lambda i, tiles: transfer(
            model, content[i:i + 1], frame(style, i) if shared is None else shared, strength, preserve_color,
            seed, tile_size=tile_size, tile_overlap=tile_overlap, progress=tiles, refine_steps=refine_steps)),)


class StyleFusionImageFusion(Node):
    CATEGORY = "StyleFusion/one-shot"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "IMAGE", "image", "The fused images, the size of image_a.")
    FUNCTION = "fuse"
    DESCRIPTION = (
        "One-shot image fusion: merges the content of image A and image B (by weight, or by a mask: white = B) and "
        "renders the result in A's style, B's style or their mix. The result has A's size."
    )
    REQUIRED = {
        "model": model_spec(),
        "image_a": image_spec("First image (or frames); sets the output size."),
        "image_b": ("IMAGE", {"tooltip": "Second image: one for every frame of image_a, or one per frame. "
                                         "Resized to A."}),
        "weight": weight_spec("How much of B: 0 = only A, 1 = only B. With a mask the mask decides where B goes "
                              "and weight only sets the style mix."),
        "style_source": (["mix", "a", "b"], {"default": "mix", "tooltip":
                         "Whose style the result gets: a, b, or their mix by weight."}),
        "seed": seed_spec(),
    }
    OPTIONAL = {
        "mask": ("MASK", {"tooltip": "Optional: where B's content is used (white) instead of A's. Any size; "
                                     "one mask or one per frame."}),
    }

    def fuse(self, model, image_a, image_b, weight, style_source, seed, mask=None):
        image_a = image_to_api(image_a, "image_a")
        image_b = image_to_api(image_b, "image_b")
        batch = image_a.shape[0]
        check_batch(image_b.shape[0], batch, "image_b", "images")
        mask = mask_to_api(mask, batch, "mask")
        return (render_frames(model, batch, lambda i, _: fuse_images(
            model, image_a[i:i + 1], frame(image_b, i), weight, frame(mask, i), style_source, seed)),)
