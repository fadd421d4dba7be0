"""StyleFusionModelLoader: a model source (bundled, local folder/file, Hub repo) → SF_MODEL."""

from __future__ import annotations

from ..models import InputError
from ..storage import paths
from ..storage.hub_names import parse_hub_source
from . import comfyui
from .declare import Node, output

DEVICES = ["auto", "cpu", "cuda", "mps"]
PRECISIONS = ["auto", "fp32", "fp16", "bf16"]


def model_choices() -> list[str]:
    """The default model first, then other bundled models, then the local models folder.

    The default name is listed even before its weights are installed, so shipped workflows always
    validate; loading it then says what is missing.
    """
    names = [paths.DEFAULT_MODEL, *paths.bundled_models(), *paths.list_models()]
    return list(dict.fromkeys(names))


class StyleFusionModelLoader(Node):
    CATEGORY = "StyleFusion/loaders"
    RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(
        "SF_MODEL", "model", "The loaded StyleFusion model; connect it to every StyleFusion node that needs a model.")
    FUNCTION = "load"
    DESCRIPTION = (
        "Loads a StyleFusion model: the feature extractor E_c, the style encoder E_s and the generator G. "
        "Choose a bundled model or one in models/stylefusion, or type a Hugging Face repo (owner/name[@revision]) "
        "in hub_repo to download it once. Loaded models are cached, so re-running a graph does not reload them."
    )

    @classmethod
    def required(cls):  # the model list, read at each call
        choices = model_choices()
        return {
            "model": (choices, {"default": choices[0], "tooltip":
                      "Model to load: bundled models first (the first is the default), then folders and "
                      ".safetensors files in models/stylefusion."}),
            "device": (DEVICES, {"default": "auto", "tooltip":
                       "Where the model runs. auto = ComfyUI's device (GPU if there is one, else CPU)."}),
            "precision": (PRECISIONS, {"default": "auto", "tooltip":
                          "Weight precision. auto = fp16 on GPU/MPS, fp32 on CPU. bf16/fp16 halve memory."}),
        }

    OPTIONAL = {
        "hub_repo": ("STRING", {"default": "", "multiline": False, "tooltip":
                     "Optional Hugging Face repo 'owner/name' or 'owner/name@revision'. When set it "
                     "overrides the model choice; it is downloaded once into models/stylefusion/."}),
    }

    def load(self, model: str, device: str = "auto", precision: str = "auto", hub_repo: str = ""):
        source = model
        hub_repo = (hub_repo or "").strip()
        if hub_repo:
            if parse_hub_source(hub_repo) is None:
                raise InputError(
                    f"hub_repo: {hub_repo!r} is not a Hugging Face repo id; write owner/name or owner/name@revision "
                    "(or leave it empty to use the model list)"
                )
            source = hub_repo
        return (comfyui.load_model(source, device, precision),)
