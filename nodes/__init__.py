"""ComfyUI nodes: adapt IMAGE / MASK / SF_* values to calls of the models API; no model math here.

Importing this package is cheap: it defines node classes and, inside ComfyUI only, registers the
``models/stylefusion`` and ``models/stylefusion_styles`` folders. No model is built or loaded until a
node runs.
"""

import re

from . import comfyui
from .features import StyleFusionExtractFeatures, StyleFusionFuseFeatures, StyleFusionPreviewFeatures
from .loader import StyleFusionModelLoader
from .render import StyleFusionGenerate, StyleFusionImageFusion, StyleFusionStyleTransfer
from .styles import (StyleFusionEncodeStyle, StyleFusionLoadStyle, StyleFusionMixStyles, StyleFusionSaveStyle,
                     StyleFusionStylePreset)

#: The nodes. A node's id is its class name and is a public interface: workflows refer to it; its display
#: name is the id in words ("StyleFusionModelLoader" → "StyleFusion Model Loader").
_NODES = (StyleFusionModelLoader, StyleFusionExtractFeatures, StyleFusionEncodeStyle, StyleFusionMixStyles,
          StyleFusionFuseFeatures, StyleFusionGenerate, StyleFusionStyleTransfer, StyleFusionImageFusion,
          StyleFusionLoadStyle, StyleFusionSaveStyle, StyleFusionPreviewFeatures, StyleFusionStylePreset)

NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in _NODES}
NODE_DISPLAY_NAME_MAPPINGS = {
    cls.__name__: "StyleFusion " + re.sub(r"(?<=[a-z])(?=[A-Z])", " ", cls.__name__.removeprefix("StyleFusion"))
    for cls in _NODES
}

comfyui.register_folders()  # a no-op outside ComfyUI

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
