"""Style presets (issue 11): the bundled ones match the bundled model, the recipes are credited, a build
for any model lists and loads, another model's preset is refused, and the node and CLI use them."""

from __future__ import annotations

import json
import os

import pytest
import torch
from PIL import Image

from stylefusion.cli import main
from stylefusion.models import StyleFusionModel, TINY_CONFIG
from stylefusion.networks.errors import InputError, ModelMismatchError
from stylefusion.storage import paths
from stylefusion.storage.paths import bundled_models
from stylefusion.storage.presets import (INDEX_NAME, list_presets, load_preset, model_styles_folder, read_index)
from stylefusion.storage.style_file import load_style
from stylefusion.nodes import NODE_CLASS_MAPPINGS
from stylefusion.presets.build import RECIPES, build_presets, read_recipes

from conftest import trained_like

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE_NAMES = [r["name"] for r in read_recipes()["presets"]]


def test_bundled_presets_match_the_bundled_model():
    """Fails when the bundled model changed and its presets were not rebuilt (`stylefusion styles build`)."""
    assert bundled_models()
    for name, folder in bundled_models().items():
        model = StyleFusionModel.from_pretrained(folder)
        styles = model_styles_folder(folder)
        index = read_index(styles)
        assert index is not None, f"{name}: no {INDEX_NAME}; run `stylefusion styles build`"
        hint = f"{name}: presets are stale; run `stylefusion styles build` (or python docs/make_preset_sheet.py)"
        assert index["model_fingerprint"] == model.fingerprint, hint
        assert [e["name"] for e in index["presets"]] == RECIPE_NAMES, hint
        for entry in index["presets"]:
            style = load_style(os.path.join(styles, entry["file"]), model)  # refuses another model's file
            assert style.tensor.shape == (1, model.config.style_dim)
            assert entry["sources"] and all(s["credit"] and s["license"] for s in entry["sources"])


def test_recipes_have_24_presets_artist_mixes_and_credited_small_sources():
    recipes = read_recipes()
    assert len(recipes["presets"]) >= 24
    mixes = [r for r in recipes["presets"] if len(r["sources"]) >= 3]
    assert {"van_gogh", "hokusai"} <= {r["name"] for r in mixes}
    assert len(mixes) >= 4 and len(recipes["presets"]) - len(mixes) >= 20
    credits = open(os.path.join(ROOT, "presets", "CREDITS.md"), encoding="utf-8").read()
    sources = os.path.join(ROOT, "presets", "sources")
    used = {f for r in recipes["presets"] for f in r["sources"]}
    assert used == set(os.listdir(sources)), "every shipped source picture is used, every used one ships"
    assert sum(os.path.getsize(os.path.join(sources, f)) for f in used) < 2_500_000
    for file in used:
        assert f"`{file}`" in credits, f"{file} is not credited in presets/CREDITS.md"
        with Image.open(os.path.join(sources, file)) as im:
            assert max(im.size) <= 384 and im.format == "JPEG", file


@pytest.fixture
def tiny_with_presets(tmp_path, tiny_model):
    folder = tiny_model.save_pretrained(tmp_path / "tiny")
    build_presets(tiny_model, model_styles_folder(folder))
    return StyleFusionModel.from_pretrained(folder), folder


def test_build_lists_and_loads_every_preset(tiny_with_presets):
    model, folder = tiny_with_presets
    presets = list_presets(model)
    assert [p.name for p in presets] == RECIPE_NAMES
    vectors = {p.name: load_preset(model, p.name) for p in presets}
    assert all(v.model_fingerprint == model.fingerprint and v.name == n for n, v in vectors.items())
    # A painter's style is the mix of its works: not any single one of them.
    assert not torch.allclose(vectors["van_gogh"].tensor, vectors["cafe_terrace"].tensor)
    assert len({tuple(v.tensor.flatten().tolist()) for v in vectors.values()}) == len(vectors)


def test_rebuild_replaces_the_folder_and_leaves_nothing_stale(tiny_with_presets):
    model, folder = tiny_with_presets
    styles = model_styles_folder(folder)
    open(os.path.join(styles, "leftover.safetensors"), "wb").close()
    build_presets(model, styles)
    assert "leftover.safetensors" not in os.listdir(styles)
    assert not [f for f in os.listdir(folder) if f.startswith(".presets-")]


def test_a_preset_of_another_model_is_refused_with_both_names(tiny_with_presets, tmp_path):
    model, folder = tiny_with_presets
    other = trained_like(StyleFusionModel(TINY_CONFIG.replace(name="other-tiny")), seed=3)
    with pytest.raises(ModelMismatchError) as err:
        load_preset(other, "van_gogh")  # the bundled model's preset, asked for with another model
    assert "other-tiny" in str(err.value) and paths.DEFAULT_MODEL in str(err.value)
    # The same folder's presets after the weights changed (retrained, not rebuilt): stale, refused.
    retrained = trained_like(StyleFusionModel.from_pretrained(folder), seed=9)
    retrained.save_pretrained(folder)
    stale = StyleFusionModel.from_pretrained(folder)
    with pytest.raises(ModelMismatchError, match="styles build"):
        load_preset(stale, "hokusai")
    with pytest.raises(InputError, match="not a known preset"):
        load_preset(model, "no_such_style")


def test_preset_node_lists_bundled_presets_and_loads_one(tiny_with_presets):
    cls = NODE_CLASS_MAPPINGS["StyleFusionStylePreset"]
    choices = cls.INPUT_TYPES()["required"]["preset"][0]
    assert choices[: len(RECIPE_NAMES)] == RECIPE_NAMES
    model, _ = tiny_with_presets
    (style,) = getattr(cls(), cls.FUNCTION)(model=model, preset="hokusai")
    assert style.model_fingerprint == model.fingerprint and style.name == "hokusai"
    render = NODE_CLASS_MAPPINGS["StyleFusionGenerate"]
    features = NODE_CLASS_MAPPINGS["StyleFusionExtractFeatures"]
    image = torch.rand(1, 72, 96, 3)
    (feats,) = getattr(features(), features.FUNCTION)(model=model, image=image)
    (out,) = getattr(render(), render.FUNCTION)(model=model, features=feats, style=style, strength=1.0,
                                                 preserve_color=False, seed=0)
    assert out.shape == image.shape


def test_cli_styles_list_build_and_transfer_with_a_preset(tiny_with_presets, tmp_path, capsys):
    assert main(["styles", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 24 and [l.split("\t")[0] for l in lines[: len(RECIPE_NAMES)]] == RECIPE_NAMES
    model, folder = tiny_with_presets
    out = tmp_path / "again"
    assert main(["styles", "build", "--model", folder, "--out", str(out)]) == 0
    assert json.load(open(out / INDEX_NAME))["model_fingerprint"] == model.fingerprint
    assert main(["styles", "list", "--model", folder]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[-1].startswith(RECIPE_NAMES[-1] + "\t") and model.fingerprint[:8] in listed[-1]
    photo = tmp_path / "photo.png"
    Image.new("RGB", (96, 72), (200, 120, 40)).save(photo)
    result = tmp_path / "out.png"
    assert main(["transfer", str(photo), "--preset", "van_gogh", "-o", str(result), "--model", folder]) == 0
    assert Image.open(result).size == (96, 72)
    assert main(["transfer", str(photo), "--preset", "van_gogh", "-o", str(result)]) == 0  # the bundled model
    assert main(["transfer", str(photo), "-o", str(result)]) == 1
    assert "--preset" in capsys.readouterr().err


def test_presets_of_a_vgg16_model_keep_their_statistics_for_refine_steps(tmp_path, capsys):
    torch.manual_seed(0)
    config = TINY_CONFIG.replace(name="tiny-vgg", style_features="vgg16", style_hidden=16)
    model = trained_like(StyleFusionModel(config))
    folder = model.save_pretrained(tmp_path / "tiny-vgg")
    build_presets(model, model_styles_folder(folder))
    model = StyleFusionModel.from_pretrained(folder)
    mixed, single = load_preset(model, "van_gogh"), load_preset(model, "cafe_terrace")  # a mix of works, one work
    width = model.style_encoder.to_vector[0].in_features
    assert mixed.statistics.shape == single.statistics.shape == (1, width)
    assert not torch.allclose(mixed.statistics, single.statistics)
    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    Image.new("RGB", (96, 72), (200, 120, 40)).save(photo)
    Image.new("RGB", (64, 64), (20, 60, 140)).save(painting)
    result = tmp_path / "out.png"
    for style in (["--preset", "van_gogh"], [str(painting)]):
        assert main(["transfer", str(photo), *style, "-o", str(result), "--model", folder, "--refine-steps", "2"]) == 0
        assert Image.open(result).size == (96, 72)
        assert json.loads(Image.open(result).text["stylefusion"])["refine_steps"] == 2


def test_recipes_path_is_the_shipped_manifest():
    assert os.path.samefile(RECIPES, os.path.join(ROOT, "presets", "manifest.json"))
