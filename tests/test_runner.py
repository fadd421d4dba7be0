"""The headless runner with small fake nodes: both workflow formats, the executor, core nodes, errors.

The real StyleFusion nodes are exercised in test_runner_workflows.py; here tiny fake node classes are
registered in the pack's NODE_CLASS_MAPPINGS for the duration of a test, so every rule of the runner
is tested in isolation and fast.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from stylefusion import nodes as pack_nodes
from stylefusion.models import InputError
from stylefusion.runner import errors
from stylefusion.runner.core_nodes import RunContext, save_image_path, use_context
from stylefusion.runner.executor import load_workflow, parse_setting, run_workflow
from stylefusion.runner.images import read_image, read_mask
from stylefusion.runner.workflow import Link, parse_workflow
from test_runner_helpers import UIWorkflow, png_as_tensor, write_picture

CALLS: list[tuple[str, dict]] = []


class FakeInvert:
    """IMAGE → IMAGE: blends the image towards its negative by ``amount``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",),
                             "amount": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.05}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
                             "mode": (["invert", "keep"], {"default": "invert"})},
                "optional": {"mask": ("MASK",), "label": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "apply"
    CATEGORY = "test"

    def apply(self, image, amount, seed, mode, mask=None, label=""):
        CALLS.append(("FakeInvert", {"amount": amount, "seed": seed, "mode": mode, "mask": mask, "label": label}))
        return (image if mode == "keep" else image + (1 - 2 * image) * amount,)


class FakeCount:
    """An INT source (to feed a converted widget)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 3, "min": 0, "max": 10})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test"

    def run(self, value):
        CALLS.append(("FakeCount", {"value": value}))
        return (value,)


class FakeFails:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "test"

    def run(self, image):
        raise InputError("image: the image batch is empty (0 images); connect at least one image")


class FakeBug(FakeFails):
    def run(self, image):
        return (1 / 0,)


class FakeEven:
    """Custom VALIDATE_INPUTS, as ComfyUI nodes may define."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "level": ("INT", {"default": 2, "min": 0, "max": 8})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "test"

    @classmethod
    def VALIDATE_INPUTS(cls, level):
        return True if level % 2 == 0 else f"level: {level} is odd; use an even number"

    def run(self, image, level):
        return (image,)


FAKES = {"FakeInvert": FakeInvert, "FakeCount": FakeCount, "FakeFails": FakeFails, "FakeBug": FakeBug,
         "FakeEven": FakeEven}


@pytest.fixture(autouse=True)
def fake_nodes(monkeypatch):
    for name, cls in FAKES.items():
        monkeypatch.setitem(pack_nodes.NODE_CLASS_MAPPINGS, name, cls)
    CALLS.clear()
    yield
    CALLS.clear()


@pytest.fixture
def folder(tmp_path):
    """A workflow folder holding photo.png (96×72) in it and mask.png in inputs/."""
    write_picture(tmp_path / "photo.png")
    write_picture(tmp_path / "inputs" / "mask.png", seed=3)
    return tmp_path


def invert_graph(amount=0.5, seed=7, prefix="Test") -> UIWorkflow:
    """LoadImage → FakeInvert → SaveImage, plus a Note, as the frontend saves it."""
    g = UIWorkflow()
    g.node(1, "LoadImage", ["photo.png", "image"], outputs=("IMAGE", "MASK"))
    g.node(2, "FakeInvert", [amount, seed, "fixed", "invert", ""],
           inputs=[("image", "IMAGE"), ("mask", "MASK")], outputs=("IMAGE",))
    g.node(3, "SaveImage", [prefix], inputs=[("images", "IMAGE")])
    g.node(4, "Note", ["What this workflow shows."])
    g.link(1, 0, 2, "image")
    g.link(2, 0, 3, "images")
    return g


def classes():
    from stylefusion.runner.executor import node_class_mappings

    return node_class_mappings()


# -- formats ----------------------------------------------------------------------------------------------
def test_ui_format_maps_widgets_in_input_order_with_seed_control_and_upload_values():
    wf = parse_workflow(invert_graph().to_json(), classes())
    assert set(wf.nodes) == {"1", "2", "3"}  # the Note is not a node that runs
    assert wf.nodes["1"].inputs == {"image": "photo.png"}  # "image" (upload button value) skipped
    assert wf.nodes["2"].inputs == {"image": Link("1", 0), "amount": 0.5, "seed": 7, "mode": "invert", "label": ""}
    assert wf.nodes["3"].inputs == {"images": Link("2", 0), "filename_prefix": "Test"}
    assert wf.widget_slots["2"] == {"amount": 0, "seed": 1, "mode": 3, "label": 4}


def test_api_format_and_ui_format_give_the_same_prompt():
    ui = parse_workflow(invert_graph().to_json(), classes())
    api = parse_workflow(ui.to_prompt(), classes())
    assert api.format == "api" and ui.format == "ui"
    assert api.to_prompt() == ui.to_prompt()
    assert api.to_prompt()["2"]["inputs"]["image"] == ["1", 0]
    assert api.to_prompt()["2"]["_meta"] == {"title": "FakeInvert"}


def test_api_format_wrapped_like_a_post_prompt_body_keeps_its_workflow():
    ui_json = invert_graph().to_json()
    prompt = parse_workflow(ui_json, classes()).to_prompt()
    wf = parse_workflow({"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": ui_json}}}, classes())
    assert wf.format == "api" and wf.ui == ui_json and wf.to_prompt() == prompt


def test_ui_format_new_link_objects_reroutes_primitives_and_converted_widgets():
    g = UIWorkflow()
    g.node(1, "LoadImage", ["photo.png", "image"], outputs=("IMAGE", "MASK"))
    g.node(5, "Reroute", [], inputs=[("", "*")], outputs=("IMAGE",))
    g.node(6, "PrimitiveNode", [42, "randomize"], outputs=("INT",))
    g.node(7, "FakeCount", [9], outputs=("INT",))
    # seed and amount converted to inputs; seed fed by a primitive, label by nothing
    g.node(2, "FakeInvert", [0.25, 1, "fixed", "keep", "x"],
           inputs=[("image", "IMAGE"), ("mask", "MASK"), ("seed", "INT", True), ("label", "STRING", True)],
           outputs=("IMAGE",))
    g.node(3, "SaveImage", ["out"], inputs=[("images", "IMAGE")])
    g.link(1, 0, 5, "")
    g.link(5, 0, 2, "image")
    g.link(6, 0, 2, "seed")
    g.link(2, 0, 3, "images")
    data = g.to_json()
    data["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link))
                     for link in data["links"]]
    wf = parse_workflow(data, classes())
    assert wf.nodes["2"].inputs["image"] == Link("1", 0)  # through the reroute
    assert wf.nodes["2"].inputs["seed"] == 42  # the primitive's value, not the stale widget value
    assert wf.nodes["2"].inputs["label"] == "x"
    assert "5" not in wf.nodes and "6" not in wf.nodes


def test_ui_format_linked_widget_from_a_node_and_older_files_without_its_slot():
    g = UIWorkflow()
    g.node(1, "LoadImage", ["photo.png", "image"], outputs=("IMAGE", "MASK"))
    g.node(7, "FakeCount", [9], outputs=("INT",))
    g.node(2, "FakeInvert", [0.25, "keep", ""],  # old frontend: the linked seed widget has no slot
           inputs=[("image", "IMAGE"), ("mask", "MASK"), ("seed", "INT", True)], outputs=("IMAGE",))
    g.node(3, "SaveImage", ["out"], inputs=[("images", "IMAGE")])
    g.link(1, 0, 2, "image")
    g.link(7, 0, 2, "seed")
    g.link(2, 0, 3, "images")
    wf = parse_workflow(g.to_json(), classes())
    assert wf.nodes["2"].inputs == {"image": Link("1", 0), "seed": Link("7", 0), "amount": 0.25, "mode": "keep",
                                    "label": ""}


def test_ui_format_fills_widgets_a_file_predates_with_defaults_and_accepts_dict_values():
    g = UIWorkflow()
    g.node(2, "FakeInvert", [0.3], inputs=[("image", "IMAGE")], outputs=("IMAGE",))
    g.node(8, "FakeInvert", {"amount": 0.1, "seed": 5, "mode": "keep"}, inputs=[("image", "IMAGE")], outputs=("IMAGE",))
    wf = parse_workflow(g.to_json(), classes())
    assert wf.nodes["2"].inputs == {"amount": 0.3, "seed": 0, "mode": "invert", "label": ""}
    assert wf.nodes["8"].inputs == {"amount": 0.1, "seed": 5, "mode": "keep", "label": ""}


class FakeUpload:
    """A custom loader: upload button (after the required widgets) and a combo with its own control widget."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (["a.png", "b.png"], {"image_upload": True}),
                             "level": ("INT", {"default": 1, "min": 0, "max": 9})},
                "optional": {"tag": ("STRING", {"default": ""}),
                             "pick": (["x", "y"], {"control_after_generate": True}),
                             "amount": ("FLOAT", {"default": 0.5, "forceInput": True})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "test"


def test_widget_layouts_of_current_and_older_frontends():
    from stylefusion.runner.spec import node_spec
    from stylefusion.runner.workflow import map_widgets

    spec = node_spec(FakeUpload, "FakeUpload")
    expected = {"image": "b.png", "level": 3, "tag": "hello", "pick": "y"}
    # current frontends: upload value after the required widgets, the combo's control + filter list,
    # and a slot for the forceInput widget
    values, slots = map_widgets(spec, ["b.png", 3, "image", "hello", "y", "randomize", "", 0.25], set())
    assert values == {**expected, "amount": 0.25}
    assert slots == {"image": 0, "level": 1, "tag": 3, "pick": 4, "amount": 7}
    # files without forceInput slots, or without the slot of a widget that is linked
    assert map_widgets(spec, ["b.png", 3, "image", "hello", "y", "fixed", ""], set())[0] == expected
    assert map_widgets(spec, ["b.png", "image", "hello", "y", "fixed", ""], {"level"})[0] == {
        k: v for k, v in expected.items() if k != "level"}
    # hand-written files without the frontend's extra values
    assert map_widgets(spec, ["b.png", 3, "hello", "y"], set())[0] == expected


def test_muted_and_bypassed_nodes(folder):
    g = invert_graph()
    g.node(9, "FakeInvert", [1.0, 0, "fixed", "invert", ""], inputs=[("image", "IMAGE"), ("mask", "MASK")],
           outputs=("IMAGE",), mode=4)
    # re-wire: LoadImage → (bypassed) 9 → 2
    g._get(2)["inputs"][0]["link"] = None
    g.link(1, 0, 9, "image")
    g.link(9, 0, 2, "image")
    wf = parse_workflow(g.to_json(), classes())
    assert wf.nodes["2"].inputs["image"] == Link("1", 0) and "9" not in wf.nodes
    g._get(9)["mode"] = 2  # muted: its consumers lose the input
    wf = parse_workflow(g.to_json(), classes())
    assert "image" not in wf.nodes["2"].inputs
    with pytest.raises(errors.WorkflowInvalidError, match=r"node 2 \(FakeInvert\): required input 'image' is not connected"):
        run_workflow(g.to_json(), input_dir=str(folder), output_dir=str(folder / "out"))


# -- running ------------------------------------------------------------------------------------------------
def test_run_ui_workflow_saves_named_pngs_with_the_right_pixels(folder, tmp_path):
    path = invert_graph(amount=1.0).save(folder / "wf.json")
    result = run_workflow(path, output_dir=str(tmp_path / "out"))
    assert [os.path.basename(f) for f in result.files] == ["Test_00001_.png"]
    photo = png_as_tensor(folder / "photo.png")
    out = png_as_tensor(result.files[0])
    assert out.shape == photo.shape
    assert torch.allclose(out, 1 - photo, atol=1.5 / 255)
    again = run_workflow(path, output_dir=str(tmp_path / "out"))  # never overwrites: the counter goes on
    assert os.path.basename(again.files[0]) == "Test_00002_.png"


def test_only_nodes_an_output_needs_run(folder, tmp_path):
    g = invert_graph()
    g.node(7, "FakeCount", [4], outputs=("INT",))  # unconnected
    g.node(8, "FakeBug", inputs=[("image", "IMAGE")], outputs=("IMAGE",))  # feeds no output node
    g.link(1, 0, 8, "image")
    result = run_workflow(g.save(folder / "wf.json"), output_dir=str(tmp_path / "out"))
    assert [name for name, _ in CALLS] == ["FakeInvert"]
    assert result.executed == ["1", "2", "3"]


def test_png_metadata_round_trip(folder, tmp_path):
    g = invert_graph()
    path = g.save(folder / "wf.json")
    result = run_workflow(path, output_dir=str(tmp_path / "out"))
    img = Image.open(result.files[0])
    assert set(img.text) == {"prompt", "workflow"}
    assert json.loads(img.text["workflow"]) == g.to_json()  # exactly what was loaded: ComfyUI reopens it
    prompt = json.loads(img.text["prompt"])
    assert prompt == load_workflow(path).to_prompt()
    assert prompt["2"] == {"inputs": {"image": ["1", 0], "amount": 0.5, "seed": 7, "mode": "invert", "label": ""},
                           "class_type": "FakeInvert", "_meta": {"title": "FakeInvert"}}
    # the PNG itself is a workflow: running it reproduces the image
    rerun = run_workflow(result.files[0], input_dir=str(folder), output_dir=str(tmp_path / "out2"))
    assert torch.equal(png_as_tensor(rerun.files[0]), png_as_tensor(result.files[0]))
    plain = run_workflow(path, output_dir=str(tmp_path / "out3"), metadata=False)
    assert "workflow" not in Image.open(plain.files[0]).text


def test_api_workflow_png_embeds_only_the_prompt(folder, tmp_path):
    prompt = parse_workflow(invert_graph().to_json(), classes()).to_prompt()
    (folder / "api.json").write_text(json.dumps(prompt))
    result = run_workflow(str(folder / "api.json"), output_dir=str(tmp_path / "out"))
    text = Image.open(result.files[0]).text
    assert set(text) == {"prompt"} and json.loads(text["prompt"]) == prompt


def test_inputs_from_the_inputs_subfolder_absolute_paths_and_overrides(folder, tmp_path):
    g = invert_graph()
    g._get(1)["widgets_values"][0] = "mask.png"  # lives in <workflow dir>/inputs/
    path = g.save(folder / "wf.json")
    assert run_workflow(path, output_dir=str(tmp_path / "a")).files
    other = write_picture(tmp_path / "elsewhere" / "big.png", 80, 64, seed=5)
    result = run_workflow(path, inputs={"mask.png": other}, output_dir=str(tmp_path / "b"))
    assert png_as_tensor(result.files[0]).shape == (80, 64, 3)
    # the embedded workflow and prompt name the file that was actually used
    text = Image.open(result.files[0]).text
    assert json.loads(text["prompt"])["1"]["inputs"]["image"] == other
    assert json.loads(text["workflow"])["nodes"][0]["widgets_values"][0] == other
    by_id = run_workflow(path, inputs={"1": other}, output_dir=str(tmp_path / "c"))
    assert png_as_tensor(by_id.files[0]).shape == (80, 64, 3)
    g._get(1)["widgets_values"][0] = other  # an absolute path in the workflow itself
    assert run_workflow(g.to_json(), output_dir=str(tmp_path / "d")).files
    with pytest.raises(errors.WorkflowInvalidError, match=r"--input nope.png: no LoadImage .*'mask.png' \(node 1\)"):
        run_workflow(path, inputs={"nope.png": other}, output_dir=str(tmp_path / "e"))


def test_settings_change_widget_values(folder, tmp_path):
    path = invert_graph().save(folder / "wf.json")
    run_workflow(path, settings=[parse_setting("2.amount=0.25"), parse_setting("FakeInvert.label=hello")],
                 output_dir=str(tmp_path / "out"))
    assert CALLS[-1][1]["amount"] == 0.25 and CALLS[-1][1]["label"] == "hello"
    assert parse_setting("StyleFusionModelLoader.model=my-model") == ("StyleFusionModelLoader", "model", "my-model")
    with pytest.raises(errors.WorkflowInvalidError, match="TARGET.INPUT=VALUE"):
        parse_setting("seed=3")
    with pytest.raises(errors.WorkflowInvalidError, match="input 'image' of node 2 .* is connected"):
        run_workflow(path, settings=[("2", "image", 1)], output_dir=str(tmp_path / "out"))


def test_save_image_prefix_subfolders_variables_and_no_escape(folder, tmp_path):
    out = tmp_path / "out"
    result = run_workflow(invert_graph(prefix="styled/%width%x%height%").save(folder / "wf.json"), output_dir=str(out))
    assert result.files == [str(out / "styled" / "96x72_00001_.png")]
    assert result.ui["3"] == {"images": [{"filename": "96x72_00001_.png", "subfolder": "styled", "type": "output"}]}
    with pytest.raises(errors.InputFileError, match="outside the output folder"):
        run_workflow(invert_graph(prefix="../escape").save(folder / "wf2.json"), output_dir=str(out))
    (out / "x_00041_.png").write_bytes(b"")
    assert save_image_path("x", str(out), 1, 1)[2] == 42


def test_preview_image_writes_to_the_preview_folder(folder, tmp_path):
    g = invert_graph()
    g.node(5, "PreviewImage", inputs=[("images", "IMAGE")])
    g.link(2, 0, 5, "images")
    result = run_workflow(g.save(folder / "wf.json"), output_dir=str(tmp_path / "out"))
    assert sorted(os.path.relpath(f, tmp_path / "out") for f in result.files) == [
        "Test_00001_.png", os.path.join("preview", "preview_node5_00001_.png")]


# -- errors (each names the node, its type and the input) ------------------------------------------------------
def test_unknown_node_type_names_it_and_its_pack(folder):
    g = invert_graph()
    g.node(9, "ImpactWildcard", [], properties={"cnr_id": "comfyui-impact-pack", "ver": "8.8"})
    with pytest.raises(errors.UnknownNodeError, match=r"node 9: unknown node type 'ImpactWildcard'.*pack 'comfyui-impact-pack'"):
        parse_workflow(g.to_json(), classes())
    g.nodes[-1]["type"], g.nodes[-1]["properties"] = "ImageScale", {"cnr_id": "comfy-core"}
    with pytest.raises(errors.UnknownNodeError, match="ComfyUI core node"):
        parse_workflow(g.to_json(), classes())
    g.nodes[-1]["type"] = "workflow>My group"
    with pytest.raises(errors.UnknownNodeError, match="is a group node"):
        parse_workflow(g.to_json(), classes())
    g.nodes[-1]["mode"] = 4  # bypassed: only passes its inputs through, so its pack is not needed
    assert "9" not in parse_workflow(g.to_json(), classes()).nodes
    with pytest.raises(errors.UnknownNodeError, match="node 4: unknown node type 'Mystery'"):
        run_workflow({"4": {"class_type": "Mystery", "inputs": {}}}, input_dir=str(folder))


def test_broken_links_are_named(folder):
    g = invert_graph()
    g._get(3)["inputs"][0]["link"] = 99
    with pytest.raises(errors.BrokenLinkError, match=r"node 3 \(SaveImage\): input 'images' refers to link 99"):
        parse_workflow(g.to_json(), classes())
    g = invert_graph()
    g.links[1][1] = 42  # the link's source node does not exist
    with pytest.raises(errors.BrokenLinkError, match=r"node 3 \(SaveImage\): input 'images' is linked to node 42"):
        parse_workflow(g.to_json(), classes())
    prompt = parse_workflow(invert_graph().to_json(), classes()).to_prompt()
    prompt["3"]["inputs"]["images"] = ["2", 3]
    with pytest.raises(errors.BrokenLinkError, match=r"linked to output 3 of node 2 \(FakeInvert\), which has 1 output"):
        run_workflow(prompt, input_dir=str(folder))
    prompt["3"]["inputs"]["images"] = ["1", 1]
    with pytest.raises(errors.BrokenLinkError, match="expects IMAGE but is linked to the MASK output of node 1"):
        run_workflow(prompt, input_dir=str(folder))
    prompt["3"]["inputs"]["images"] = ["2", 0]
    prompt["5"] = {"class_type": "FakeInvert", "inputs": {**prompt["2"]["inputs"], "image": ["2", 0]}}
    prompt["2"]["inputs"]["image"] = ["5", 0]
    with pytest.raises(errors.BrokenLinkError, match="the workflow has a cycle: nodes 2 → 5 → 2"):
        run_workflow(prompt, input_dir=str(folder))


@pytest.mark.parametrize("index, value, message", [
    (0, 1.5, r"node 2 \(FakeInvert\): input 'amount': 1.5 is out of range; use a value between 0.0 and 1.0"),
    (0, "much", r"input 'amount': 'much' is not a number"),
    (1, -1, r"input 'seed': -1 is out of range"),
    (1, 2.5, r"input 'seed': 2.5 is not a whole number"),
    (3, "sideways", r"input 'mode': 'sideways' is not one of the allowed values: 'invert', 'keep'"),
])
def test_bad_widget_values_are_named_with_what_is_allowed(folder, index, value, message):
    g = invert_graph()
    g._get(2)["widgets_values"][index] = value
    with pytest.raises(errors.BadValueError, match=message):
        run_workflow(g.to_json(), input_dir=str(folder), output_dir=str(folder / "out"))


def test_custom_validate_inputs_and_missing_required_values(folder):
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
              "2": {"class_type": "FakeEven", "inputs": {"image": ["1", 0], "level": 3}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}}
    with pytest.raises(errors.BadValueError, match=r"node 2 \(FakeEven\): level: 3 is odd"):
        run_workflow(prompt, input_dir=str(folder), output_dir=str(folder / "out"))
    del prompt["2"]["inputs"]["level"]
    with pytest.raises(errors.WorkflowInvalidError, match=r"node 2 \(FakeEven\): required input 'level' has no value"):
        run_workflow(prompt, input_dir=str(folder), output_dir=str(folder / "out"))


def test_list_nodes_are_refused_with_a_reason(folder, monkeypatch):
    class FakeList(FakeFails):
        OUTPUT_IS_LIST = (True,)

    monkeypatch.setitem(pack_nodes.NODE_CLASS_MAPPINGS, "FakeList", FakeList)
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
              "2": {"class_type": "FakeList", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}}
    with pytest.raises(errors.WorkflowInvalidError, match=r"node 2 \(FakeList\): this node takes or returns lists"):
        run_workflow(prompt, input_dir=str(folder), output_dir=str(folder / "out"))


def test_missing_input_image_names_the_file_and_where_it_looked(folder):
    g = invert_graph()
    g._get(1)["widgets_values"][0] = "cat.png"
    with pytest.raises(errors.InputFileError) as info:
        run_workflow(g.save(folder / "wf.json"), output_dir=str(folder / "out"))
    message = str(info.value)
    assert message.startswith("node 1 (LoadImage): image: file 'cat.png' not found; looked in ")
    assert str(folder) in message and os.path.join(str(folder), "inputs") in message
    assert info.value.exit_code == 5


def test_node_errors_are_prefixed_with_the_node(folder):
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
              "2": {"class_type": "FakeFails", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}}
    with pytest.raises(errors.NodeExecutionError, match=r"^node 2 \(FakeFails\): image: the image batch is empty"):
        run_workflow(prompt, input_dir=str(folder), output_dir=str(folder / "out"))
    prompt["2"]["class_type"] = "FakeBug"
    with pytest.raises(errors.NodeExecutionError, match=r"^node 2 \(FakeBug\): ZeroDivisionError: division by zero"):
        run_workflow(prompt, input_dir=str(folder), output_dir=str(folder / "out"))


def test_workflow_file_problems(tmp_path):
    with pytest.raises(errors.WorkflowFileError, match="workflow file not found"):
        load_workflow(str(tmp_path / "none.json"))
    (tmp_path / "bad.json").write_text('{"nodes": [}')
    with pytest.raises(errors.WorkflowFileError, match=r"bad.json is not valid JSON: .* line 1 column"):
        load_workflow(str(tmp_path / "bad.json"))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(errors.WorkflowFileError, match="not a ComfyUI workflow"):
        load_workflow(str(tmp_path / "list.json"))
    write_picture(tmp_path / "plain.png")
    with pytest.raises(errors.WorkflowFileError, match="holds no ComfyUI workflow"):
        load_workflow(str(tmp_path / "plain.png"))
    with pytest.raises(errors.WorkflowInvalidError, match="no output node"):
        run_workflow({"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}})


# -- decoding like core LoadImage ------------------------------------------------------------------------------
def test_rgba_becomes_rgb_plus_inverted_alpha_mask(tmp_path):
    image, mask = read_image(write_picture(tmp_path / "rgba.png", mode="RGBA"))
    assert image.shape == (1, 72, 96, 3) and image.dtype == torch.float32
    assert mask.shape == (1, 72, 96)
    assert mask[0, 0, 0] == pytest.approx(1.0) and mask[0, 0, -1] == pytest.approx(0.0)  # transparent → 1
    _, opaque = read_image(write_picture(tmp_path / "rgb.png"))
    assert opaque.shape == (1, 64, 64) and opaque.abs().sum() == 0  # core's placeholder mask


def test_grayscale_and_16_bit_become_rgb(tmp_path):
    image, _ = read_image(write_picture(tmp_path / "gray.png", mode="L"))
    assert image.shape == (1, 72, 96, 3) and torch.equal(image[..., 0], image[..., 2])
    deep = (np.tile(np.linspace(0, 65535, 96), (72, 1))).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    image, _ = read_image(str(tmp_path / "deep.png"))
    assert image.shape == (1, 72, 96, 3)
    assert image[0, 0, -1, 0] == pytest.approx(1.0, abs=0.01) and image[0, 0, 0, 0] == pytest.approx(0.0, abs=0.01)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    path = write_picture(tmp_path / "rotated.jpg", 72, 96, exif=exif.tobytes())
    image, _ = read_image(path)
    assert image.shape == (1, 96, 72, 3)


def test_animation_frames_become_a_batch(tmp_path):
    frames = [Image.fromarray(np.full((72, 96, 3), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    image, mask = read_image(str(tmp_path / "anim.png"))
    assert image.shape == (3, 72, 96, 3) and mask.shape[0] == 3


def test_load_image_mask_channels_like_core(folder, tmp_path):
    path = write_picture(tmp_path / "m.png", mode="RGBA")
    alpha, red = read_mask(path, "alpha"), read_mask(path, "red")
    assert alpha.shape == red.shape == (1, 72, 96)
    assert alpha[0, 0, 0] == pytest.approx(1.0)  # inverted alpha, as core
    assert torch.allclose(red[0], read_image(path)[0][0, ..., 0])
    g = invert_graph()
    g.node(6, "LoadImageMask", ["mask.png", "red", "image"], outputs=("MASK",))
    g.link(6, 0, 2, "mask")
    wf = parse_workflow(g.to_json(), classes())
    assert wf.nodes["6"].inputs == {"image": "mask.png", "channel": "red"}
    run_workflow(g.save(folder / "wf.json"), output_dir=str(tmp_path / "out"))
    assert CALLS[-1][1]["mask"].shape == (1, 72, 96)


def test_unreadable_image_is_an_input_file_error(folder, tmp_path):
    (folder / "photo.png").write_bytes(b"not a png")
    with pytest.raises(errors.InputFileError, match=r"node 1 \(LoadImage\): image: cannot read .*photo.png as an image"):
        run_workflow(invert_graph().save(folder / "wf.json"), output_dir=str(tmp_path / "out"))


def test_find_input_honours_comfyui_annotations(tmp_path):
    write_picture(tmp_path / "out" / "r.png")
    ctx = RunContext(input_dirs=[str(tmp_path)], output_dir=str(tmp_path / "out"))
    with use_context(ctx):
        assert ctx.find_input("r.png [output]") == str(tmp_path / "out" / "r.png")
        with pytest.raises(errors.InputFileError):
            ctx.find_input("r.png [input]")
