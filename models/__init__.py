"""StyleFusion's model: networks, config, weight I/O and the public API (no ComfyUI imports here)."""

from .api import (
    ContentFeatures,
    StyleVector,
    check_image,
    check_mask,
    encode_style,
    extract_features,
    fuse_features,
    fuse_images,
    generate,
    mix_styles,
    refine_style,
    transfer,
)
from ..networks.model import StyleFusionModel
from ..networks.config import FORMAT_VERSION, TINY_CONFIG, StyleFusionConfig
from ..networks.errors import InputError, ModelFormatError, ModelMismatchError, ModelNotFoundError, StyleFusionError
from ..storage.loading import load_model

__all__ = [
    "FORMAT_VERSION", "TINY_CONFIG", "ContentFeatures", "InputError", "ModelFormatError", "ModelMismatchError",
    "ModelNotFoundError", "StyleFusionConfig", "StyleFusionError", "StyleFusionModel", "StyleVector",
    "check_image", "check_mask", "encode_style", "extract_features", "fuse_features", "fuse_images",
    "generate", "load_model", "mix_styles", "refine_style", "transfer",
]
