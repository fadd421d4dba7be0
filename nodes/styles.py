"""Style vectors (SF_STYLE): encode them from images, mix them, save and load them as files."""

from __future__ import annotations

import os
from dataclasses import replace

from ..models import InputError, ModelMismatchError, StyleFusionError, StyleVector, encode_style, mix_styles
from ..storage import paths
from ..networks.fusion import MIX_MODES
from ..storage.presets import list_presets, load_preset
from ..storage.style_file import load_style, save_style
from . import comfyui
from .convert import image_to_api, mask_to_api
from .declare import Node, image_spec, model_spec, output, weight_spec

#: LoadStyle's entry for "no file": always listed so a workflow that uses hub_source validates.
NO_STYLE = "(none)"
#: StylePreset's only entry when no preset is installed (running it says how to get some).
NO_PRESET = "(no presets installed)"


class StyleFusionEncodeStyle(Node):
    CATEGORY = "StyleFusion/style"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "SF_STYLE", "style", "Style vectors [B,D] (or [1,D] averaged); feed Generate, Mix Styles or Save Style.")
    FUNCTION = "encode"
    DESCRIPTION = (
        "Runs the style encoder E_s: the style (colours, textures, brush strokes) of a reference image as a "
        "style vector. A mask limits where the style is taken from; 'average' merges a batch into one style."
    )
    REQUIRED = {
        "model": model_spec(),
        "image": image_spec("Style reference, e.g. a painting."),
        "reduce": (["per_image", "average"], {"default": "per_image", "tooltip":
                   "per_image: one style per image of the batch; average: one style for the whole batch."}),
    }
    OPTIONAL = {
        "mask": ("MASK", {"tooltip": "Where in the image the style is taken from (white = use). Any size; "
                                     "one mask or one per image."}),
    }

    def encode(self, model, image, reduce: str = "per_image", mask=None):
        image = image_to_api(image, "image")
        mask = mask_to_api(mask, image.shape[0], "mask")
        comfyui.load_for_use(model)
        return (encode_style(model, image, mask, reduce, name="style"),)


def extra_weight_spec(style: str):
    return ("FLOAT", {"default": 0.5, "min": 0.0, "max": 10.0, "step": 0.05, "tooltip":
            f"Weight of {style} relative to A+B (which count 1 together); ignored when {style} is not connected."})


class StyleFusionMixStyles(Node):
    CATEGORY = "StyleFusion/style"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "SF_STYLE", "style", "The mixed style; feed Generate or Save Style.")
    FUNCTION = "mix"
    DESCRIPTION = (
        "Mixes two to four styles. weight slides from style_a (0) to style_b (1); style_c and style_d, if "
        "connected, join with their own weights relative to A+B (which together count 1). slerp keeps mixtures "
        "as strong as their parts; lerp is a plain weighted average."
    )
    REQUIRED = {
        "style_a": ("SF_STYLE", {"tooltip": "First style."}),
        "style_b": ("SF_STYLE", {"tooltip": "Second style (same model as style_a)."}),
        "weight": weight_spec("0 = only style_a, 1 = only style_b, 0.5 = half each."),
        "mode": (list(MIX_MODES), {"default": "slerp", "tooltip":
                 "slerp: along the sphere, mixtures stay strong; lerp: weighted average."}),
    }
    OPTIONAL = {
        "style_c": ("SF_STYLE", {"tooltip": "Optional third style."}),
        "weight_c": extra_weight_spec("style_c"),
        "style_d": ("SF_STYLE", {"tooltip": "Optional fourth style."}),
        "weight_d": extra_weight_spec("style_d"),
    }

    def mix(self, style_a, style_b, weight: float, mode: str, style_c=None, weight_c: float = 0.5,
            style_d=None, weight_d: float = 0.5):
        if not 0.0 <= float(weight) <= 1.0:
            raise InputError(f"weight: {weight} is out of range; use a value between 0 and 1")
        named = [("style_a", style_a, 1.0 - float(weight)), ("style_b", style_b, float(weight))]
        named += [(n, s, float(w)) for n, s, w in (("style_c", style_c, weight_c), ("style_d", style_d, weight_d))
                  if s is not None]
        for name, _, w in named[2:]:
            if w < 0:
                raise InputError(f"weight_{name[-1]}: must be ≥ 0, got {w}")
        try:
            mixed = mix_styles([s for _, s, _ in named], [w for _, _, w in named], mode)
        except (InputError, ModelMismatchError) as exc:
            raise type(exc)(_rename(str(exc), [n for n, _, _ in named])) from None
        return (mixed,)


def _rename(message: str, names: list[str]) -> str:
    """The API numbers its styles style_1..style_N; say the node's input names instead."""
    for i, name in enumerate(names, start=1):
        message = message.replace(f"style_{i}", name)
    return message


class StyleFusionStylePreset(Node):
    CATEGORY = "StyleFusion/loaders"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "SF_STYLE", "style", "The preset's style vector [1,D]; feed Generate, Mix Styles or Save Style.")
    FUNCTION = "load"
    DESCRIPTION = (
        "A ready-made style by name: the bundled model's presets (painters such as van_gogh or hokusai, mixed from "
        "several of their works, and single paintings), then styles packs downloaded with `stylefusion download "
        "owner/pack` (named owner/pack:style). A preset belongs to the model that encoded it; another model refuses it."
    )

    @classmethod
    def required(cls):  # the installed presets, listed at each call
        choices = [p.name for p in list_presets()] or [NO_PRESET]
        return {
            "model": model_spec("The model the preset is used with (it must be the one that encoded it)."),
            "preset": (choices, {"default": choices[0], "tooltip":
                       "Bundled presets by name; downloaded packs as owner/pack:style."}),
        }

    def load(self, model, preset: str):
        return (load_preset(model, preset),)


class StyleFusionLoadStyle(Node):
    CATEGORY = "StyleFusion/loaders"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "SF_STYLE", "style", "The saved style vectors; feed Generate or Mix Styles.")
    FUNCTION = "load"
    DESCRIPTION = (
        "Loads a style file (.safetensors) from models/stylefusion_styles, or from a Hugging Face repo with "
        "hub_source = owner/name[@revision]:path/in/repo.safetensors (downloaded once). A style only works with "
        "the model that made it; Generate says so if they differ."
    )

    @classmethod
    def required(cls):  # the style files, listed at each call
        choices = [*paths.list_styles(), NO_STYLE]
        return {
            "style": (choices, {"default": choices[0], "tooltip":
                      "A style file in models/stylefusion_styles (save one with StyleFusion Save Style)."}),
        }

    OPTIONAL = {
        "hub_source": ("STRING", {"default": "", "multiline": False, "tooltip":
                       "Optional: owner/name[@revision]:path/in/repo.safetensors on the Hugging Face Hub. "
                       "When set it overrides the style list."}),
    }

    @classmethod
    def IS_CHANGED(cls, style: str, hub_source: str = ""):
        # Re-run when the file on disk changes (a style saved again under the same name).
        if (hub_source or "").strip() or style == NO_STYLE:
            return hub_source
        try:
            path = paths.find_in(paths.STYLES_KIND, style)
        except InputError:
            return style
        return f"{style}:{os.path.getmtime(path)}" if path else style

    def load(self, style: str, hub_source: str = ""):
        hub_source = (hub_source or "").strip()
        if hub_source:
            return (load_style(_hub_style_path(hub_source)),)
        if not style or style == NO_STYLE:
            raise InputError("style: no style chosen; pick a file from models/stylefusion_styles or fill in hub_source")
        path = paths.find_in(paths.STYLES_KIND, style)
        if path is None or not os.path.isfile(path):
            known = paths.list_styles()
            raise InputError(f"style: {style!r} is not in {paths.folders(paths.STYLES_KIND)[0]}; available: "
                             f"{', '.join(known) or 'none (save one with StyleFusion Save Style)'}")
        return (load_style(path),)


def _hub_style_path(text: str) -> str:
    try:
        from ..storage.hub_download import ensure_style  # lazy: huggingface_hub is only needed for Hub styles
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith("hub"):
            raise InputError("hub_source: Hub downloads are not available in this installation; "
                             "put the style file in models/stylefusion_styles instead") from None
        raise
    try:
        return ensure_style(text)
    except StyleFusionError as exc:  # storage/hub_download.py words its errors for an input called "style"
        message = str(exc)
        if message.startswith("style:"):
            message = "hub_source:" + message[len("style:"):]
        elif not message.startswith("hub_source"):
            message = f"hub_source: {message}"
        raise type(exc)(message) from None


class StyleFusionSaveStyle(Node):
    CATEGORY = "StyleFusion/style"
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "save"
    DESCRIPTION = (
        "Saves a style as <name>.safetensors in models/stylefusion_styles (an existing file of that name is "
        "replaced), so StyleFusion Load Style can use it later or you can share it."
    )
    REQUIRED = {
        "style": ("SF_STYLE", {"tooltip": "The style to save (from Encode Style, Mix Styles or Load Style)."}),
        "name": ("STRING", {"default": "my_style", "multiline": False, "tooltip":
                 "File name inside models/stylefusion_styles; sub-folders with '/' are allowed, '..' and "
                 "absolute paths are not. '.safetensors' is added."}),
    }

    def save(self, style: StyleVector, name: str):
        name = (name or "").strip()
        if name.lower().endswith(".safetensors"):
            name = name[: -len(".safetensors")]
        last = name.replace("\\", "/").split("/")[-1]
        if not last or last.startswith("."):
            raise InputError(f"name: {name!r} is not a file name; type a name such as my_style or artists/van_gogh")
        folder = paths.write_folder(paths.STYLES_KIND)
        paths.safe_join(folder, name, "name")  # refuses '..' and absolute paths, naming what the user typed
        path = paths.safe_join(folder, name + ".safetensors", "name")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        renamed = replace(style, name=os.path.basename(name))
        save_style(renamed, path, source=f"StyleFusion Save Style (from {style.name})")
        saved = os.path.relpath(path, folder).replace(os.sep, "/")
        return {"ui": {"text": [f"saved style {saved}"]}, "result": ()}
