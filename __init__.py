"""StyleFusion — a ComfyUI custom-node pack for GAN-based style transfer and image fusion.

ComfyUI imports this folder by path; ``pip install .`` installs the same files as the package
``stylefusion``. Importing it only registers node classes: no weights are loaded, no model is built.
"""

if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:
    # Imported as a loose file, not as a package: pytest does this to the repository root when the
    # checkout's folder name is not a Python identifier (e.g. "comfyui-stylefusion"). There is no
    # package to import the nodes from, and nothing to register.
    NODE_CLASS_MAPPINGS: dict = {}
    NODE_DISPLAY_NAME_MAPPINGS: dict = {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
