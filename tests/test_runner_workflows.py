"""Every shipped workflow (example_workflows/*.json) runs headlessly with the real StyleFusion nodes.

A tiny random model stands in for the bundled one (it may not be trained yet): it is saved into the
isolated models folder and chosen with ``StyleFusionModelLoader.model=tiny``, exactly as a user would
with ``--set``. The sample inputs are replaced by small copies (longest side 128 px, same mode and
frames) so the tests stay fast while the training run uses the CPU. Each output must exist, have the
size and frame count of the image it was rendered from, and differ from every input picture.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageSequence

from stylefusion import nodes as pack_nodes
from stylefusion.cli import main
from stylefusion.models import StyleFusionModel
from stylefusion.storage import paths
from stylefusion.runner import errors
from stylefusion.runner.executor import run_workflow
from stylefusion.runner.workflow import Link
from test_runner_helpers import png_as_tensor, write_picture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = sorted(glob.glob(os.path.join(ROOT, "example_workflows", "*.json")))
TINY = [("StyleFusionModelLoader", "model", "tiny")]
SMALL = 128

#: For each node that outputs an IMAGE: the input whose source image gives the output its size.
SIZE_FROM = {
    "StyleFusionStyleTransfer": "content",
    "StyleFusionImageFusion": "image_a",
    "StyleFusionGenerate": "features",
    "StyleFusionExtractFeatures": "image",
    "StyleFusionFuseFeatures": "features_a",
    "StyleFusionPreviewFeatures": "features",
}


@pytest.fixture
def tiny_installed(isolated_models_dir, tiny_model) -> str:
    from stylefusion.storage.presets import model_styles_folder
    from stylefusion.presets.build import build_presets

    folder = tiny_model.save_pretrained(isolated_models_dir / "stylefusion" / "tiny")
    build_presets(tiny_model, model_styles_folder(folder))  # style_presets.json picks presets of the loaded model
    return "tiny"


def small_copy(source: str, target: str) -> str:
    """``source`` scaled so its longest side is SMALL px, keeping its mode and every frame."""
    img = Image.open(source)
    frames = []
    for frame in ImageSequence.Iterator(img):
        scale = SMALL / max(frame.size)
        frames.append(frame.copy().resize((round(frame.width * scale), round(frame.height * scale)), Image.LANCZOS))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if len(frames) > 1:
        frames[0].save(target, format="PNG", save_all=True, append_images=frames[1:])
    else:
        frames[0].save(target)
    return target


def small_inputs(workflow_path: str, folder) -> dict[str, str]:
    """--input overrides: every LoadImage / LoadImageMask file of the workflow → a small copy."""
    with open(workflow_path, encoding="utf-8") as fh:
        data = json.load(fh)
    base = os.path.dirname(workflow_path)
    inputs = {}
    for node in data["nodes"]:
        if node["type"] in ("LoadImage", "LoadImageMask"):
            name = node["widgets_values"][0]
            found = [p for p in (os.path.join(base, name), os.path.join(base, "inputs", name)) if os.path.isfile(p)]
            assert found, f"{os.path.basename(workflow_path)}: node {node['id']} loads {name}, which does not ship"
            inputs[name] = small_copy(found[0], os.path.join(str(folder), name))
    return inputs


def source_image(result, node_id: str) -> str:
    """The LoadImage node whose picture an IMAGE-producing node was rendered from."""
    node = result.workflow.nodes[node_id]
    while node.class_type != "LoadImage":
        assert node.class_type in SIZE_FROM, f"add {node.class_type} to SIZE_FROM"
        link = node.inputs[SIZE_FROM[node.class_type]]
        assert isinstance(link, Link)
        node = result.workflow.nodes[link.node]
    return node.id


def frames_of(path: str) -> list[torch.Tensor]:
    return [torch.from_numpy(np.asarray(f.convert("RGB"), dtype=np.float32) / 255.0)
            for f in ImageSequence.Iterator(Image.open(path))]


def check_outputs(result, inputs: dict[str, str]) -> None:
    assert result.files, "the workflow saved nothing"
    pictures = [frame for path in inputs.values() for frame in frames_of(path)]
    for node_id, ui in result.ui.items():
        images = ui.get("images") or []
        if not images:
            continue
        images_in = result.workflow.nodes[result.workflow.nodes[node_id].inputs["images"].node]
        loader = result.workflow.nodes[source_image(result, images_in.id)]
        expected = frames_of(loader.inputs["image"])
        assert len(images) == len(expected), f"node {node_id}: {len(images)} images for {len(expected)} input frames"
        for item in images:
            out = png_as_tensor(next(f for f in result.files if f.endswith(os.path.join(item["subfolder"], item["filename"]))))
            assert out.shape == expected[0].shape, f"node {node_id}: size {tuple(out.shape)}, expected {tuple(expected[0].shape)}"
            for picture in pictures:
                resized = F.interpolate(picture.permute(2, 0, 1)[None], size=out.shape[:2], mode="bilinear",
                                        align_corners=False)[0].permute(1, 2, 0)
                assert (out - resized).abs().mean() > 0.02, f"node {node_id}: output looks like an input picture"


def _refines(workflow_path: str) -> set[str]:
    """The render node types of the workflow that refine their style (refine_steps, the last widget, > 0)."""
    with open(workflow_path, encoding="utf-8") as fh:
        nodes = json.load(fh)["nodes"]
    return {n["type"] for n in nodes
            if n["type"] in ("StyleFusionStyleTransfer", "StyleFusionGenerate") and n["widgets_values"][-1]}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=os.path.basename)
def test_shipped_workflow_runs_headlessly(workflow, tmp_path, tiny_installed, isolated_models_dir):
    if _refines(workflow):  # refinement needs a VGG16 style encoder: "tiny" gets one
        from stylefusion.networks.config import TINY_CONFIG

        from conftest import trained_like

        torch.manual_seed(0)
        vgg = trained_like(StyleFusionModel(TINY_CONFIG.replace(name="tiny", style_features="vgg16", style_hidden=16)))
        vgg.save_pretrained(isolated_models_dir / "stylefusion" / "tiny")
    inputs = small_inputs(workflow, tmp_path / "inputs")
    # Fewer refinement steps with the random tiny model (the bundled-model test below runs the workflow's own).
    settings = TINY + [(kind, "refine_steps", 2) for kind in _refines(workflow)]
    result = run_workflow(workflow, inputs=inputs, settings=settings, output_dir=str(tmp_path / "out"))
    check_outputs(result, inputs)
    # What ComfyUI needs to reopen the graph from the picture: the workflow as run, and its prompt.
    text = Image.open(result.files[-1]).text
    embedded = json.loads(text["workflow"])
    with open(workflow, encoding="utf-8") as fh:
        shipped = json.load(fh)
    assert [n["type"] for n in embedded["nodes"]] == [n["type"] for n in shipped["nodes"]]
    assert embedded["links"] == shipped["links"]
    loader = next(n for n in embedded["nodes"] if n["type"] == "StyleFusionModelLoader")
    assert loader["widgets_values"][0] == "tiny"
    assert json.loads(text["prompt"]) == result.workflow.to_prompt()


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=os.path.basename)
def test_shipped_workflow_with_the_bundled_model(workflow, tmp_path):
    if paths.DEFAULT_MODEL not in paths.bundled_models():
        pytest.skip(f"the bundled model models/pretrained/{paths.DEFAULT_MODEL}/ is not installed yet")
    inputs = small_inputs(workflow, tmp_path / "inputs")
    result = run_workflow(workflow, inputs=inputs, output_dir=str(tmp_path / "out"))
    check_outputs(result, inputs)


def test_cli_runs_a_shipped_workflow_and_its_png_reruns(capsys, tmp_path, tiny_installed):
    workflow = os.path.join(ROOT, "example_workflows", "style_transfer.json")
    inputs = small_inputs(workflow, tmp_path / "inputs")
    argv = ["run", workflow, "--output-dir", str(tmp_path / "out"), "--set", "StyleFusionModelLoader.model=tiny"]
    for name, path in inputs.items():
        argv += ["--input", f"{name}={path}"]
    assert main(argv) == 0, capsys.readouterr().err
    saved = capsys.readouterr().out.split()
    assert len(saved) == 1 and saved[0].endswith("style_transfer_00001_.png")
    first = tmp_path / "out" / "StyleFusion" / "style_transfer_00001_.png"
    # dragging the PNG into ComfyUI reopens the graph; here, running the PNG redoes the same picture
    assert main(["run", str(first), "--output-dir", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    second = tmp_path / "out" / "StyleFusion" / "style_transfer_00002_.png"
    assert torch.equal(png_as_tensor(first), png_as_tensor(second))


# -- bad input with the real nodes: a clear error, never a traceback ---------------------------------------------
def transfer_prompt(content="content.png", style="style.png", model="tiny") -> dict:
    return {
        "1": {"class_type": "StyleFusionModelLoader", "inputs": {"model": model, "device": "cpu", "precision": "auto"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": content}},
        "3": {"class_type": "LoadImage", "inputs": {"image": style}},
        "4": {"class_type": "StyleFusionStyleTransfer", "inputs": {
            "model": ["1", 0], "content": ["2", 0], "style": ["3", 0], "strength": 0.8, "preserve_color": False,
            "seed": 1, "tile_size": 0, "tile_overlap": 64}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "t"}},
    }


def test_rgba_and_grayscale_inputs_run(tmp_path, tiny_installed):
    write_picture(tmp_path / "content.png", 72, 96, mode="RGBA")
    write_picture(tmp_path / "style.png", 64, 64, mode="L")
    result = run_workflow(transfer_prompt(), input_dir=str(tmp_path), output_dir=str(tmp_path / "out"))
    assert png_as_tensor(result.files[0]).shape == (72, 96, 3)


def test_a_mask_of_another_size_is_resized(tmp_path, tiny_installed):
    workflow = os.path.join(ROOT, "example_workflows", "region_styles.json")
    inputs = small_inputs(workflow, tmp_path / "inputs")
    inputs["mask.png"] = write_picture(tmp_path / "odd_mask.png", 40, 150, mode="L")
    result = run_workflow(workflow, inputs=inputs, settings=TINY, output_dir=str(tmp_path / "out"))
    check_outputs(result, {k: v for k, v in inputs.items() if k != "mask.png"})


def test_a_style_from_another_model_is_refused(tmp_path, tiny_installed, isolated_models_dir):
    from stylefusion.models import TINY_CONFIG, StyleFusionModel

    torch.manual_seed(1)
    StyleFusionModel(TINY_CONFIG).save_pretrained(isolated_models_dir / "stylefusion" / "other")
    write_picture(tmp_path / "content.png")
    prompt = {
        "1": {"class_type": "StyleFusionModelLoader", "inputs": {"model": "tiny", "device": "cpu", "precision": "auto"}},
        "2": {"class_type": "StyleFusionModelLoader", "inputs": {"model": "other", "device": "cpu", "precision": "auto"}},
        "3": {"class_type": "LoadImage", "inputs": {"image": "content.png"}},
        "4": {"class_type": "StyleFusionExtractFeatures", "inputs": {"model": ["1", 0], "image": ["3", 0]}},
        "5": {"class_type": "StyleFusionEncodeStyle", "inputs": {"model": ["2", 0], "image": ["3", 0], "reduce": "per_image"}},
        "6": {"class_type": "StyleFusionGenerate", "inputs": {
            "model": ["1", 0], "features": ["4", 0], "style": ["5", 0], "strength": 1.0, "preserve_color": False,
            "seed": 0, "tile_size": 0, "tile_overlap": 64}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "x"}},
    }
    with pytest.raises(errors.NodeExecutionError, match=r"^node 6 \(StyleFusionGenerate\): style: was made by model tiny"):
        run_workflow(prompt, input_dir=str(tmp_path), output_dir=str(tmp_path / "out"))


class EmptyBatch:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "test"

    def run(self, image):
        return (image[:0],)


def test_an_empty_image_batch_is_a_clear_node_error(capsys, tmp_path, tiny_installed, monkeypatch):
    monkeypatch.setitem(pack_nodes.NODE_CLASS_MAPPINGS, "EmptyBatch", EmptyBatch)
    write_picture(tmp_path / "content.png")
    write_picture(tmp_path / "style.png", seed=2)
    prompt = transfer_prompt()
    prompt["9"] = {"class_type": "EmptyBatch", "inputs": {"image": ["2", 0]}}
    prompt["4"]["inputs"]["content"] = ["9", 0]
    (tmp_path / "api.json").write_text(json.dumps(prompt))
    code = main(["run", str(tmp_path / "api.json"), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("stylefusion run: node 4 (StyleFusionStyleTransfer): content: ") and "empty" in err


def test_missing_workflow_input_file_names_it(capsys, tmp_path, tiny_installed):
    workflow = os.path.join(ROOT, "example_workflows", "style_transfer.json")
    code = main(["run", workflow, "--input-dir", str(tmp_path), "--set", "StyleFusionModelLoader.model=tiny"])
    err = capsys.readouterr().err
    assert code == 5 and len(err.strip().splitlines()) == 1
    assert "node 3 (LoadImage): image: file 'photo.jpg' not found; looked in " + str(tmp_path) in err


def test_an_uninstalled_model_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "BUNDLED_DIR", str(tmp_path / "none"))
    write_picture(tmp_path / "content.png")
    write_picture(tmp_path / "style.png", seed=2)
    (tmp_path / "api.json").write_text(json.dumps(transfer_prompt(model=paths.DEFAULT_MODEL)))
    code = main(["run", str(tmp_path / "api.json"), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("stylefusion run: node 1 (StyleFusionModelLoader): ")


def test_save_style_then_load_it_in_another_graph(capsys, tmp_path, tiny_installed, isolated_models_dir):
    write_picture(tmp_path / "content.png")
    write_picture(tmp_path / "style.png", seed=2)
    save = {
        "1": {"class_type": "StyleFusionModelLoader", "inputs": {"model": "tiny", "device": "cpu", "precision": "auto"}},
        "3": {"class_type": "LoadImage", "inputs": {"image": "style.png"}},
        "4": {"class_type": "StyleFusionEncodeStyle", "inputs": {"model": ["1", 0], "image": ["3", 0], "reduce": "average"}},
        "5": {"class_type": "StyleFusionSaveStyle", "inputs": {"style": ["4", 0], "name": "mine"}},
    }
    (tmp_path / "save.json").write_text(json.dumps(save))
    assert main(["run", str(tmp_path / "save.json"), "--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "node 5 (StyleFusionSaveStyle): saved style" in out
    styles = sorted(os.listdir(isolated_models_dir / "stylefusion_styles"))
    assert styles and styles[0].startswith("mine")
    use = {
        "1": save["1"],
        "2": {"class_type": "LoadImage", "inputs": {"image": "content.png"}},
        "3": {"class_type": "StyleFusionLoadStyle", "inputs": {"style": styles[0]}},
        "4": {"class_type": "StyleFusionExtractFeatures", "inputs": {"model": ["1", 0], "image": ["2", 0]}},
        "5": {"class_type": "StyleFusionGenerate", "inputs": {
            "model": ["1", 0], "features": ["4", 0], "style": ["3", 0], "strength": 1.0, "preserve_color": False,
            "seed": 0, "tile_size": 0, "tile_overlap": 64}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "styled"}},
    }
    result = run_workflow(use, input_dir=str(tmp_path), output_dir=str(tmp_path / "out"))
    assert png_as_tensor(result.files[0]).shape == (72, 96, 3)
    use["3"]["inputs"]["style"] = "nope.safetensors"
    with pytest.raises(errors.BadValueError, match=r"node 3 \(StyleFusionLoadStyle\): input 'style': 'nope.safetensors' "
                                                     r"is not one of the allowed values: 'mine"):
        run_workflow(use, input_dir=str(tmp_path), output_dir=str(tmp_path / "out"))
