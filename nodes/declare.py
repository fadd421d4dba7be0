"""What every node class declares to ComfyUI, written as data: its inputs and its outputs.

A node subclasses :class:`Node` and lists its inputs in ``REQUIRED`` (and ``OPTIONAL``), in ComfyUI's
own spec format; :meth:`Node.INPUT_TYPES` is the classmethod ComfyUI calls. A node whose choices are
read at call time (files on disk) writes a ``required()`` classmethod instead of ``REQUIRED``.
:func:`output` declares a node's one output as ``RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS``.

Every node class reads in one order: the ComfyUI plumbing (CATEGORY, outputs, FUNCTION), then what
the user sees (DESCRIPTION), its inputs, and the method that runs. Inputs several nodes declare
alike are written once below.
"""

from __future__ import annotations

import copy

from .convert import IMAGE_NOTE


class Node:
    """Base of the pack's node classes: ``INPUT_TYPES()`` built from ``REQUIRED`` and ``OPTIONAL``."""

    #: Input name → spec, as ComfyUI reads them: ``(type, options)``, in the order the node shows them.
    REQUIRED: dict = {}
    #: The same for inputs that may stay unconnected / unset; no ``"optional"`` entry when empty.
    OPTIONAL: dict = {}

    @classmethod
    def required(cls) -> dict:
        """The required inputs; a node that lists files at call time overrides this."""
        return cls.REQUIRED

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        types = {"required": cls.required()}
        if cls.OPTIONAL:
            types["optional"] = cls.OPTIONAL
        return copy.deepcopy(types)  # a fresh dict each call, as ComfyUI expects: callers may change it


def output(kind: str, name: str, tooltip: str) -> tuple[tuple[str], tuple[str], tuple[str]]:
    """A node's single output: ``RETURN_TYPES, RETURN_NAMES, OUTPUT_TOOLTIPS = output(kind, name, tooltip)``."""
    return (kind,), (name,), (tooltip,)


def model_spec(tooltip: str = "The StyleFusion model (from StyleFusion Model Loader).") -> tuple:
    return ("SF_MODEL", {"tooltip": tooltip})


def image_spec(tooltip: str) -> tuple:
    """An IMAGE input; its tooltip ends with the channel policy ``image_to_api`` applies."""
    return ("IMAGE", {"tooltip": f"{tooltip} {IMAGE_NOTE}"})


def weight_spec(tooltip: str) -> tuple:
    """How much of B in a mix of A and B: 0..1."""
    return ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": tooltip})
