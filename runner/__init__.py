"""Headless runner: execute ComfyUI workflows of StyleFusion nodes without ComfyUI.

    from stylefusion.runner import run_workflow
    result = run_workflow("example_workflows/style_transfer.json", output_dir="out")
    result.files   # the PNGs SaveImage / PreviewImage wrote

Modules: :mod:`.workflow` reads the UI and API formats into one graph, :mod:`.executor` validates and
runs it, :mod:`.core_nodes` stands in for ComfyUI's LoadImage, LoadImageMask, SaveImage and
PreviewImage, :mod:`.images` decodes and writes pictures; ``cli/run.py`` puts ``stylefusion run``,
``transfer`` and ``fuse`` on the command line. ComfyUI never imports this package (names below load on
first use).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "run_workflow": ".executor", "load_workflow": ".executor", "node_class_mappings": ".executor",
    "RunResult": ".executor", "Workflow": ".workflow", "PromptNode": ".workflow", "Link": ".workflow",
    "parse_workflow": ".workflow", "WorkflowError": ".errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
