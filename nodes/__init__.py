"""ComfyUI nodes: adapt IMAGE / MASK / SF_* values to calls of the models API; no model math here.

Importing this package is cheap: it defines node classes and, inside ComfyUI only, registers the
``models/stylefusion`` and ``models/stylefusion_styles`` folders. No model is built or loaded until a
node runs.
"""

from . import comfyui
from .features import StyleFusionExtractFeatures, StyleFusionFuseFeatures, StyleFusionPreviewFeatures
from .loader import StyleFusionModelLoader
from .render import StyleFusionGenerate, StyleFusionImageFusion, StyleFusionStyleTransfer
from .styles import (StyleFusionEncodeStyle, StyleFusionLoadStyle, StyleFusionMixStyles, StyleFusionSaveStyle,
                     StyleFusionStylePreset)

#: Node id → (class, display name). Node ids are a public interface: workflows refer to them.
_NODES = {
    "StyleFusionModelLoader": (StyleFusionModelLoader, "StyleFusion Model Loader"),
    "StyleFusionExtractFeatures": (StyleFusionExtractFeatures, "StyleFusion Extract Features"),
    "StyleFusionEncodeStyle": (StyleFusionEncodeStyle, "StyleFusion Encode Style"),
    "StyleFusionMixStyles": (StyleFusionMixStyles, "StyleFusion Mix Styles"),
    "StyleFusionFuseFeatures": (StyleFusionFuseFeatures, "StyleFusion Fuse Features"),
    "StyleFusionGenerate": (StyleFusionGenerate, "StyleFusion Generate"),
    "StyleFusionStyleTransfer": (StyleFusionStyleTransfer, "StyleFusion Style Transfer"),
    "StyleFusionImageFusion": (StyleFusionImageFusion, "StyleFusion Image Fusion"),
    "StyleFusionLoadStyle": (StyleFusionLoadStyle, "StyleFusion Load Style"),
    "StyleFusionSaveStyle": (StyleFusionSaveStyle, "StyleFusion Save Style"),
    "StyleFusionPreviewFeatures": (StyleFusionPreviewFeatures, "StyleFusion Preview Features"),
    "StyleFusionStylePreset": (StyleFusionStylePreset, "StyleFusion Style Preset"),
}

NODE_CLASS_MAPPINGS = {node_id: cls for node_id, (cls, _) in _NODES.items()}
NODE_DISPLAY_NAME_MAPPINGS = {node_id: name for node_id, (_, name) in _NODES.items()}

comfyui.register_folders()  # a no-op outside ComfyUI

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
