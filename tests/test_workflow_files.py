"""The shipped workflows (ComfyUI UI "workflow" format) and their sample inputs, checked as files:
they parse, use only nodes that exist, their links agree, their widget values fit the nodes, and
every input file they load ships in example_workflows/inputs/ with a credit.

(Running them is the headless runner's test; these checks need no model.)
"""

from __future__ import annotations

import glob
import json
import os

import pytest
from PIL import Image, ImageSequence

from stylefusion.nodes import NODE_CLASS_MAPPINGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = os.path.join(ROOT, "example_workflows")
INPUTS = os.path.join(WORKFLOWS, "inputs")
FILES = sorted(glob.glob(os.path.join(WORKFLOWS, "*.json")))
REQUIRED = {"style_transfer", "image_fusion", "style_mixing", "region_styles", "composable_chain", "batch_frames"}

#: Core nodes the headless runner provides, as ComfyUI defines them (inputs, outputs, widgets_values checker).
CORE = {
    "LoadImage": ([], ["IMAGE", "MASK"]),
    "LoadImageMask": ([], ["MASK"]),
    "SaveImage": ([("images", "IMAGE")], []),
    "PreviewImage": ([("images", "IMAGE")], []),
    "Note": ([], []),
}
OUTPUT_NODES = {"SaveImage", "PreviewImage"}
SOCKETS = {"IMAGE", "MASK", "SF_MODEL", "SF_FEATURES", "SF_STYLE"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}


def load(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def test_the_required_workflows_ship():
    assert REQUIRED <= {os.path.splitext(os.path.basename(f))[0] for f in FILES}


def test_templates_live_in_example_workflows_each_with_a_thumbnail():
    """ComfyUI serves a pack's example_workflows/ as templates; <name>.jpg is the browser's picture."""
    assert not os.path.exists(os.path.join(ROOT, "workflows")), "templates moved to example_workflows/"
    for path in FILES:
        thumb = os.path.splitext(path)[0] + ".jpg"
        assert os.path.isfile(thumb), f"{os.path.basename(path)} has no thumbnail {os.path.basename(thumb)}"
        with Image.open(thumb) as im:
            assert im.format == "JPEG" and 64 <= max(im.size) <= 512, f"{thumb}: {im.format} {im.size}"


@pytest.fixture(params=FILES, ids=lambda p: os.path.basename(p))
def workflow(request):
    return load(request.param)


def test_ui_format_header(workflow):
    assert workflow["version"] == 0.4
    ids = [n["id"] for n in workflow["nodes"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    assert workflow["last_node_id"] >= max(ids)
    assert workflow["last_link_id"] >= max((link[0] for link in workflow["links"]), default=0)
    for node in workflow["nodes"]:
        assert {"id", "type", "pos", "size", "inputs", "outputs", "widgets_values"} <= set(node), node.get("id")
        assert len(node["pos"]) == 2 and len(node["size"]) == 2


def test_only_known_node_types_and_one_note(workflow):
    types = [n["type"] for n in workflow["nodes"]]
    unknown = set(types) - set(NODE_CLASS_MAPPINGS) - set(CORE)
    assert not unknown, f"unknown node types {unknown}"
    notes = [n for n in workflow["nodes"] if n["type"] == "Note"]
    assert len(notes) == 1
    text = notes[0]["widgets_values"]
    assert len(text) == 1 and isinstance(text[0], str) and len(text[0]) > 80
    assert not notes[0]["inputs"] and not notes[0]["outputs"]
    assert OUTPUT_NODES & set(types), "a workflow must end in SaveImage or PreviewImage"
    assert any(t.startswith("StyleFusion") for t in types)


def slots_of(node_type):
    """(input sockets [(name, type)], output types) of a node type, as ComfyUI builds its slots."""
    if node_type in CORE:
        return CORE[node_type]
    cls = NODE_CLASS_MAPPINGS[node_type]
    types = cls.INPUT_TYPES()
    sockets = [(name, spec[0]) for section in ("required", "optional") for name, spec in types.get(section, {}).items()
               if isinstance(spec[0], str) and spec[0] in SOCKETS]
    return sockets, list(cls.RETURN_TYPES)


def test_links_are_consistent(workflow):
    nodes = {n["id"]: n for n in workflow["nodes"]}
    link_ids = set()
    for link in workflow["links"]:
        assert len(link) == 6, link
        link_id, src, src_slot, dst, dst_slot, kind = link
        assert link_id not in link_ids
        link_ids.add(link_id)
        assert src in nodes and dst in nodes, f"link {link_id} joins missing nodes"
        out = nodes[src]["outputs"][src_slot]
        inp = nodes[dst]["inputs"][dst_slot]
        assert out["type"] == inp["type"] == kind, f"link {link_id}: {out['type']} → {inp['type']} ({kind})"
        assert link_id in (out["links"] or []), f"link {link_id} missing from node {src}'s output"
        assert inp["link"] == link_id, f"link {link_id} missing from node {dst}'s input"
        assert slots_of(nodes[src]["type"])[1][src_slot] == kind
    for node in workflow["nodes"]:
        sockets, outputs = slots_of(node["type"])
        assert [(i["name"], i["type"]) for i in node["inputs"]] == sockets, f"node {node['id']} inputs"
        assert [o["type"] for o in node["outputs"]] == outputs, f"node {node['id']} outputs"
        for inp in node["inputs"]:
            assert inp["link"] is None or inp["link"] in link_ids
        for out in node["outputs"]:
            assert all(i in link_ids for i in out["links"] or [])


def test_required_inputs_are_connected_and_the_graph_is_acyclic(workflow):
    nodes = {n["id"]: n for n in workflow["nodes"]}
    for node in nodes.values():
        if node["type"] in CORE:
            required = [name for name, _ in CORE[node["type"]][0]]
        else:
            spec = NODE_CLASS_MAPPINGS[node["type"]].INPUT_TYPES()["required"]
            required = [name for name, s in spec.items() if isinstance(s[0], str) and s[0] in SOCKETS]
        linked = {i["name"] for i in node["inputs"] if i["link"] is not None}
        assert set(required) <= linked, f"node {node['id']} ({node['type']}): {set(required) - linked} not connected"
    parents = {i: {link[1] for link in workflow["links"] if link[3] == i} for i in nodes}
    done: set = set()
    while len(done) < len(nodes):
        ready = {i for i in nodes if i not in done and parents[i] <= done}
        assert ready, "the graph has a cycle"
        done |= ready


def widget_layout(node_type):
    """[(name, spec)] of the widgets in widgets_values order; ("<control>", None) after a seed."""
    types = NODE_CLASS_MAPPINGS[node_type].INPUT_TYPES()
    layout = []
    for section in ("required", "optional"):
        for name, spec in types.get(section, {}).items():
            kind = spec[0]
            if isinstance(kind, str) and kind in SOCKETS:
                continue
            layout.append((name, spec))
            options = spec[1] if len(spec) > 1 else {}
            if kind == "INT" and (options.get("control_after_generate") or name in ("seed", "noise_seed")):
                layout.append(("<control>", None))
    return layout


def test_widget_values_fit_the_nodes(workflow):
    for node in workflow["nodes"]:
        values = node["widgets_values"]
        where = f"node {node['id']} ({node['type']})"
        if node["type"] == "LoadImage":
            assert len(values) == 2 and values[1] == "image", where
        elif node["type"] == "LoadImageMask":
            assert len(values) == 3 and values[1] in ("alpha", "red", "green", "blue") and values[2] == "image", where
        elif node["type"] == "SaveImage":
            assert len(values) == 1 and isinstance(values[0], str) and values[0], where
        elif node["type"] == "PreviewImage":
            assert values in ([], None), where
        elif node["type"] in NODE_CLASS_MAPPINGS:
            layout = widget_layout(node["type"])
            assert len(values) == len(layout), f"{where}: {len(values)} widget values for {[n for n, _ in layout]}"
            for (name, spec), value in zip(layout, values):
                check_value(f"{where}.{name}", spec, value)


def check_value(where, spec, value):
    if spec is None:
        assert value in CONTROL_VALUES, where
        return
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    if isinstance(kind, list):
        assert value in kind, f"{where}: {value!r} not in {kind}"
    elif kind in ("INT", "FLOAT"):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
        if kind == "INT":
            assert isinstance(value, int), where
        assert options["min"] <= value <= options["max"], where
    elif kind == "BOOLEAN":
        assert isinstance(value, bool), where
    elif kind == "STRING":
        assert isinstance(value, str), where


def test_input_files_ship_with_the_pack(workflow):
    for node in workflow["nodes"]:
        if node["type"] in ("LoadImage", "LoadImageMask"):
            name = node["widgets_values"][0]
            assert os.path.basename(name) == name, f"{name}: inputs are plain file names in example_workflows/inputs/"
            assert os.path.isfile(os.path.join(INPUTS, name)), f"{name} is not in example_workflows/inputs/"


def test_sample_inputs_are_small_credited_images():
    files = sorted(f for f in os.listdir(INPUTS) if f != "CREDITS.md")
    assert files
    total = sum(os.path.getsize(os.path.join(INPUTS, f)) for f in files)
    assert total < 1_500_000, f"sample inputs take {total} bytes"  # two full-HD photos, two paintings
    with open(os.path.join(INPUTS, "CREDITS.md"), encoding="utf-8") as fh:
        credits = fh.read()
    for name in files:
        assert name.lower().endswith((".png", ".jpg", ".jpeg")), name
        with Image.open(os.path.join(INPUTS, name)) as im:
            assert max(im.size) <= 512 and min(im.size) >= 64, f"{name}: {im.size}"
            frames = sum(1 for _ in ImageSequence.Iterator(im))
        assert f"`{name}`" in credits, f"{name} is not credited in example_workflows/inputs/CREDITS.md"
        if name == "frames.png":
            assert frames > 1, "frames.png must be an animated PNG (a batch of frames)"
    used = {n["widgets_values"][0] for f in FILES for n in load(f)["nodes"] if n["type"] in ("LoadImage", "LoadImageMask")}
    assert used == set(files), f"unused sample inputs: {set(files) - used}"
