"""Every node against ComfyUI's rules for V1 nodes (what ComfyUI's loader, /object_info and the
frontend rely on), checked without ComfyUI."""

from __future__ import annotations

import inspect
import math

import pytest

from stylefusion import NODE_CLASS_MAPPINGS as ROOT_MAPPINGS
from stylefusion.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

#: The public node ids (issue 3): workflows refer to them, so they never change.
NODE_IDS = {
    "StyleFusionModelLoader", "StyleFusionExtractFeatures", "StyleFusionEncodeStyle", "StyleFusionMixStyles",
    "StyleFusionFuseFeatures", "StyleFusionGenerate", "StyleFusionStyleTransfer", "StyleFusionImageFusion",
    "StyleFusionLoadStyle", "StyleFusionSaveStyle", "StyleFusionPreviewFeatures", "StyleFusionStylePreset",
}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
SOCKET_TYPES = {"IMAGE", "MASK", "SF_MODEL", "SF_FEATURES", "SF_STYLE"}

#: Inputs each node must have (issue 3's table); more optional inputs are allowed.
TABLE = {
    "StyleFusionModelLoader": {"model", "hub_repo", "device", "precision"},
    "StyleFusionExtractFeatures": {"model", "image"},
    "StyleFusionEncodeStyle": {"model", "image", "mask", "reduce"},
    "StyleFusionMixStyles": {"style_a", "style_b", "weight", "mode", "style_c", "weight_c", "style_d", "weight_d"},
    "StyleFusionFuseFeatures": {"features_a", "features_b", "weight", "mask", "mode"},
    "StyleFusionGenerate": {"model", "features", "style", "strength", "preserve_color", "seed", "style_b", "mask",
                            "tile_size", "tile_overlap"},
    "StyleFusionStyleTransfer": {"model", "content", "style", "strength", "preserve_color", "seed", "tile_size",
                                 "tile_overlap"},
    "StyleFusionImageFusion": {"model", "image_a", "image_b", "weight", "mask", "style_source", "seed"},
    "StyleFusionLoadStyle": {"style", "hub_source"},
    "StyleFusionSaveStyle": {"style", "name"},
    "StyleFusionPreviewFeatures": {"features"},
    "StyleFusionStylePreset": {"model", "preset"},
}
OUTPUTS = {
    "StyleFusionModelLoader": ("SF_MODEL",), "StyleFusionExtractFeatures": ("SF_FEATURES",),
    "StyleFusionEncodeStyle": ("SF_STYLE",), "StyleFusionMixStyles": ("SF_STYLE",),
    "StyleFusionFuseFeatures": ("SF_FEATURES",), "StyleFusionGenerate": ("IMAGE",),
    "StyleFusionStyleTransfer": ("IMAGE",), "StyleFusionImageFusion": ("IMAGE",), "StyleFusionLoadStyle": ("SF_STYLE",),
    "StyleFusionSaveStyle": (), "StyleFusionPreviewFeatures": ("IMAGE",), "StyleFusionStylePreset": ("SF_STYLE",),
}


def test_the_pack_exports_exactly_the_public_node_ids():
    assert set(NODE_CLASS_MAPPINGS) == NODE_IDS
    assert ROOT_MAPPINGS is NODE_CLASS_MAPPINGS
    assert set(NODE_DISPLAY_NAME_MAPPINGS) == NODE_IDS
    names = list(NODE_DISPLAY_NAME_MAPPINGS.values())
    assert len(set(names)) == len(names)
    assert all(name.startswith("StyleFusion ") and name[12:].strip() for name in names)


def inputs_of(cls):
    types = cls.INPUT_TYPES()
    return types, {**types.get("required", {}), **types.get("optional", {})}


@pytest.mark.parametrize("node_id", sorted(NODE_IDS))
def test_input_types_follow_comfyui_rules(node_id):
    cls = NODE_CLASS_MAPPINGS[node_id]
    assert isinstance(inspect.getattr_static(cls, "INPUT_TYPES"), classmethod)
    types, inputs = inputs_of(cls)
    assert isinstance(types, dict) and "required" in types
    assert set(types) <= {"required", "optional", "hidden"}
    required, optional = types["required"], types.get("optional", {})
    assert not set(required) & set(optional), "an input is both required and optional"
    assert TABLE[node_id] <= set(inputs), f"missing inputs: {TABLE[node_id] - set(inputs)}"
    for name, spec in inputs.items():
        assert name.isidentifier(), name
        assert isinstance(spec, tuple) and len(spec) in (1, 2), f"{name}: spec must be (type,) or (type, options)"
        kind = spec[0]
        options = spec[1] if len(spec) == 2 else {}
        assert isinstance(options, dict), f"{name}: options must be a dict"
        assert isinstance(options.get("tooltip"), str) and len(options["tooltip"]) > 10, f"{name}: no tooltip"
        if isinstance(kind, list):
            check_combo(name, kind, options)
        else:
            assert isinstance(kind, str) and kind == kind.upper(), f"{name}: type names are upper case"
            assert kind in WIDGET_TYPES | SOCKET_TYPES, f"{name}: unknown type {kind}"
            if kind in WIDGET_TYPES:
                check_widget(name, kind, options)


def check_combo(name, choices, options):
    assert choices, f"{name}: a combo needs at least one choice"
    assert all(isinstance(c, str) for c in choices), f"{name}: combo choices are strings"
    assert len(set(choices)) == len(choices), f"{name}: duplicate combo choices"
    assert options.get("default", choices[0]) in choices, f"{name}: default not among the choices"


def check_widget(name, kind, options):
    assert "default" in options, f"{name}: widgets need a default"
    default = options["default"]
    if kind in ("INT", "FLOAT"):
        number = int if kind == "INT" else (int, float)
        for key in ("default", "min", "max", "step"):
            assert key in options, f"{name}: numbers need {key}"
            assert isinstance(options[key], number) and not isinstance(options[key], bool), f"{name}.{key}: {kind}"
            assert math.isfinite(options[key])
        low, high, step = options["min"], options["max"], options["step"]
        assert low <= default <= high, f"{name}: default {default} outside [{low}, {high}]"
        assert 0 < step <= high - low, f"{name}: step {step} does not fit [{low}, {high}]"
        if kind == "INT":
            assert high <= 0xFFFF_FFFF_FFFF_FFFF and low >= -0x8000_0000_0000_0000  # what the frontend handles
    elif kind == "BOOLEAN":
        assert isinstance(default, bool), f"{name}: BOOLEAN default must be a bool"
    elif kind == "STRING":
        assert isinstance(default, str), f"{name}: STRING default must be a str"


@pytest.mark.parametrize("node_id", sorted(NODE_IDS))
def test_outputs_function_category_and_description(node_id):
    cls = NODE_CLASS_MAPPINGS[node_id]
    assert isinstance(cls.RETURN_TYPES, tuple) and cls.RETURN_TYPES == OUTPUTS[node_id]
    assert all(isinstance(t, str) and t == t.upper() for t in cls.RETURN_TYPES)
    names = getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)
    assert isinstance(names, tuple) and len(names) == len(cls.RETURN_TYPES)
    if hasattr(cls, "OUTPUT_TOOLTIPS"):
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)
    if not cls.RETURN_TYPES:
        assert getattr(cls, "OUTPUT_NODE", False) is True, "a node without outputs must be an output node"
    assert isinstance(cls.FUNCTION, str) and callable(getattr(cls, cls.FUNCTION, None))
    assert isinstance(cls.CATEGORY, str) and cls.CATEGORY.startswith("StyleFusion/")
    assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 40
    assert cls() is not None  # ComfyUI instantiates nodes without arguments


@pytest.mark.parametrize("node_id", sorted(NODE_IDS))
def test_function_accepts_every_input_by_name(node_id):
    """ComfyUI calls FUNCTION(**inputs): required inputs always, optional ones only when set."""
    cls = NODE_CLASS_MAPPINGS[node_id]
    types, _ = inputs_of(cls)
    params = inspect.signature(getattr(cls(), cls.FUNCTION)).parameters
    has_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for name in types["required"]:
        assert name in params or has_kwargs, f"{cls.FUNCTION}() does not take required input {name}"
    for name in types.get("optional", {}):
        assert name in params or has_kwargs, f"{cls.FUNCTION}() does not take optional input {name}"
        if name in params:
            assert params[name].default is not inspect.Parameter.empty, f"optional input {name} needs a default"
    for name, p in params.items():
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            assert name in types["required"], f"{cls.FUNCTION}() requires {name}, which is not a required input"
    if hasattr(cls, "IS_CHANGED"):
        changed = inspect.signature(cls.IS_CHANGED).parameters
        assert set(types["required"]) <= set(changed)
