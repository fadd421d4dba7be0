"""StyleFusion — a ComfyUI custom-node pack for GAN-based style transfer and image fusion.

ComfyUI imports this folder by path; ``pip install .`` installs the same files as the package
``stylefusion``. Importing it only registers node classes: no weights are loaded, no model is built.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
