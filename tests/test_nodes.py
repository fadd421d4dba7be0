"""The ComfyUI nodes, run as ComfyUI runs them (class → FUNCTION), with tiny random models."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import types
import weakref

import pytest
import torch

from stylefusion.models import TINY_CONFIG, InputError, ModelMismatchError, StyleFusionModel, StyleVector, transfer
from stylefusion.storage import loading, paths
from stylefusion.nodes import NODE_CLASS_MAPPINGS, comfyui
from stylefusion.nodes.convert import image_from_api, image_to_api
from stylefusion.nodes.styles import NO_STYLE

from conftest import make_image, trained_like


def run(node_id: str, **inputs):
    cls = NODE_CLASS_MAPPINGS[node_id]
    return getattr(cls(), cls.FUNCTION)(**inputs)


def comfy_image(batch=1, height=72, width=96, seed=0) -> torch.Tensor:
    """A ComfyUI IMAGE [B,H,W,3]."""
    return make_image(batch, height, width, seed).permute(0, 2, 3, 1).contiguous()


@pytest.fixture
def model_name(isolated_models_dir, tiny_model) -> str:
    tiny_model.save_pretrained(isolated_models_dir / "stylefusion" / "tiny")
    return "tiny"


@pytest.fixture
def model(model_name):
    return run("StyleFusionModelLoader", model=model_name, device="cpu", precision="fp32")[0]


@pytest.fixture
def other_model(isolated_models_dir):
    torch.manual_seed(1)
    StyleFusionModel(TINY_CONFIG.replace(name="other")).save_pretrained(isolated_models_dir / "stylefusion" / "other")
    return run("StyleFusionModelLoader", model="other", device="cpu", precision="fp32")[0]


def strong_style(model, seed: int) -> StyleVector:
    g = torch.Generator().manual_seed(seed)
    return StyleVector(torch.randn(1, model.config.style_dim, generator=g) * 10, model.fingerprint, model.config.name)


def style_of(model, seed=3, size=80):
    return run("StyleFusionEncodeStyle", model=model, image=comfy_image(1, size, size, seed), reduce="per_image")[0]


# -- model loader ----------------------------------------------------------------------------------
def test_model_list_puts_the_default_first_then_local_models(model_name):
    choices, options = NODE_CLASS_MAPPINGS["StyleFusionModelLoader"].INPUT_TYPES()["required"]["model"]
    assert choices[0] == paths.DEFAULT_MODEL == options["default"]
    assert model_name in choices


def test_model_loader_reuses_the_cached_model_on_a_rerun(model_name):
    first = run("StyleFusionModelLoader", model=model_name, device="auto", precision="auto")[0]
    again = run("StyleFusionModelLoader", model=model_name, device="auto", precision="auto")[0]
    assert again is first
    assert first.config.name == "tiny"


def test_hub_repo_overrides_the_model_choice(model_name, isolated_models_dir, tiny_model):
    # A Hub id that is already in the models folder (owner--name layout is the downloader's; a
    # folder named like the id's name part is found without any download).
    tiny_model.save_pretrained(isolated_models_dir / "stylefusion" / "someone" / "tiny-hub")
    loaded = run("StyleFusionModelLoader", model=model_name, device="cpu", precision="fp32", hub_repo="someone/tiny-hub")[0]
    assert loaded.source.endswith(os.path.join("someone", "tiny-hub"))


def test_a_malformed_hub_repo_is_refused_by_name(model_name):
    with pytest.raises(InputError, match="hub_repo"):
        run("StyleFusionModelLoader", model=model_name, device="cpu", precision="fp32", hub_repo="not a repo")


def test_a_missing_default_model_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "BUNDLED_DIR", str(tmp_path / "no-bundled-models"))  # as if the weights were absent
    assert paths.DEFAULT_MODEL not in paths.bundled_models()
    with pytest.raises(FileNotFoundError, match="model"):
        run("StyleFusionModelLoader", model=paths.DEFAULT_MODEL, device="cpu", precision="fp32")


# -- features ---------------------------------------------------------------------------------------
def test_extract_features_and_preview_them(model):
    features = run("StyleFusionExtractFeatures", model=model, image=comfy_image(2, 72, 100))[0]
    assert features.batch_size == 2 and features.image_size == (72, 100)
    picture = run("StyleFusionPreviewFeatures", features=features)[0]
    assert picture.shape == (2, 72, 100, 3)
    assert picture.dtype == torch.float32 and 0 <= picture.min() and picture.max() <= 1
    assert picture.std() > 0.05  # a picture, not a flat field


@pytest.mark.parametrize("mode", ["blend", "stats", "mask"])
def test_fuse_features_gives_a_size(model, mode):
    a = run("StyleFusionExtractFeatures", model=model, image=comfy_image(1, 72, 96, 0))[0]
    b = run("StyleFusionExtractFeatures", model=model, image=comfy_image(1, 64, 64, 1))[0]
    mask = torch.zeros(1, 20, 30)
    mask[:, :, 15:] = 1  # another size than the features: resized
    fused = run("StyleFusionFuseFeatures", features_a=a, features_b=b, weight=0.7, mode=mode, mask=mask)[0]
    assert fused.tensor.shape == a.tensor.shape and fused.image_size == (72, 96)
    assert not torch.equal(fused.tensor, a.tensor)


def test_mask_fusion_without_a_mask_asks_for_one(model):
    a = run("StyleFusionExtractFeatures", model=model, image=comfy_image())[0]
    with pytest.raises(InputError, match="mask"):
        run("StyleFusionFuseFeatures", features_a=a, features_b=a, weight=0.5, mode="mask")


# -- styles -----------------------------------------------------------------------------------------
def test_encode_style_per_image_average_and_masked(model):
    images = comfy_image(3, 64, 80)
    per_image = run("StyleFusionEncodeStyle", model=model, image=images, reduce="per_image")[0]
    average = run("StyleFusionEncodeStyle", model=model, image=images, reduce="average")[0]
    assert per_image.tensor.shape == (3, TINY_CONFIG.style_dim)
    assert average.tensor.shape == (1, TINY_CONFIG.style_dim)
    mask = torch.zeros(1, 16, 16)
    mask[:, :8] = 1
    masked = run("StyleFusionEncodeStyle", model=model, image=images, reduce="per_image", mask=mask)[0]
    assert not torch.allclose(masked.tensor, per_image.tensor)


def test_mix_two_and_four_styles(model):
    a, b, c = style_of(model, 1), style_of(model, 2), style_of(model, 3)
    only_a = run("StyleFusionMixStyles", style_a=a, style_b=b, weight=0.0, mode="lerp")[0]
    assert torch.allclose(only_a.tensor, a.tensor)
    half = run("StyleFusionMixStyles", style_a=a, style_b=b, weight=0.5, mode="lerp")[0]
    assert torch.allclose(half.tensor, (a.tensor + b.tensor) / 2, atol=1e-6)
    four = run("StyleFusionMixStyles", style_a=a, style_b=b, weight=0.5, mode="slerp",
               style_c=c, weight_c=1.0, style_d=a, weight_d=0.0)[0]
    assert four.tensor.shape == a.tensor.shape
    assert not torch.allclose(four.tensor, half.tensor)


def test_mixing_styles_of_two_models_names_both_inputs(model, other_model):
    with pytest.raises(ModelMismatchError) as err:
        run("StyleFusionMixStyles", style_a=style_of(model), style_b=style_of(other_model), weight=0.5, mode="lerp")
    assert "style_b" in str(err.value) and "style_a" in str(err.value)
    assert "tiny" in str(err.value) and "other" in str(err.value)


def test_save_and_load_style_round_trip(model, isolated_models_dir):
    style = style_of(model)
    result = run("StyleFusionSaveStyle", style=style, name="painters/van_gogh")
    assert result["result"] == ()
    written = isolated_models_dir / "stylefusion_styles" / "painters" / "van_gogh.safetensors"
    assert written.is_file()
    choices = NODE_CLASS_MAPPINGS["StyleFusionLoadStyle"].INPUT_TYPES()["required"]["style"][0]
    assert choices == ["painters/van_gogh.safetensors", NO_STYLE]
    loaded = run("StyleFusionLoadStyle", style="painters/van_gogh.safetensors")[0]
    assert torch.equal(loaded.tensor, style.tensor)
    assert loaded.model_fingerprint == model.fingerprint and loaded.name == "van_gogh"
    # Saving again under the same name replaces the file; the loader sees the change.
    before = NODE_CLASS_MAPPINGS["StyleFusionLoadStyle"].IS_CHANGED(style="painters/van_gogh.safetensors")
    os.utime(written, (1, 1))
    assert NODE_CLASS_MAPPINGS["StyleFusionLoadStyle"].IS_CHANGED(style="painters/van_gogh.safetensors") != before


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/tmp/evil", "..\\evil", "", "  ", "dir/", "C:/evil"])
def test_save_style_refuses_names_outside_the_styles_folder(model, name, isolated_models_dir):
    with pytest.raises(InputError, match="^name: ") as err:
        run("StyleFusionSaveStyle", style=style_of(model), name=name)
    assert ".safetensors" not in str(err.value)  # the message quotes the name as typed
    assert not (isolated_models_dir / "evil.safetensors").exists()


def test_load_style_refuses_traversal_and_unknown_names(model):
    with pytest.raises(InputError, match="style"):
        run("StyleFusionLoadStyle", style="../stylefusion/tiny/model.safetensors")
    with pytest.raises(InputError, match="style: 'missing.safetensors' is not in"):
        run("StyleFusionLoadStyle", style="missing.safetensors")
    with pytest.raises(InputError, match="no style chosen"):
        run("StyleFusionLoadStyle", style=NO_STYLE)


def test_load_style_from_hub_source_goes_through_models_hub(model, monkeypatch, tmp_path):
    from stylefusion.storage.style_file import save_style

    path = save_style(style_of(model), tmp_path / "downloaded.safetensors")
    asked = []
    fake_hub = types.ModuleType("stylefusion.storage.hub_download")
    fake_hub.ensure_style = lambda text: asked.append(text) or path
    monkeypatch.setitem(sys.modules, "stylefusion.storage.hub_download", fake_hub)
    loaded = run("StyleFusionLoadStyle", style=NO_STYLE, hub_source=" someone/styles@v1:oil/van_gogh.safetensors ")[0]
    assert asked == ["someone/styles@v1:oil/van_gogh.safetensors"]
    assert loaded.model_fingerprint == model.fingerprint


def test_hub_source_errors_name_the_hub_source_input(model):
    pytest.importorskip("stylefusion.storage.hub_download")
    with pytest.raises(InputError, match="^hub_source: .*no-colon"):
        run("StyleFusionLoadStyle", style=NO_STYLE, hub_source="no-colon")
    # Tests run with HF_HUB_OFFLINE=1: a style that is not downloaded yet says so (storage/hub_download.py words it).
    with pytest.raises(FileNotFoundError, match="^hub_source: .*someone/styles"):
        run("StyleFusionLoadStyle", style=NO_STYLE, hub_source="someone/styles:oil.safetensors")


def test_a_loaded_style_of_another_model_is_refused_at_generate_with_both_names(model, other_model):
    run("StyleFusionSaveStyle", style=style_of(other_model), name="foreign")
    foreign = run("StyleFusionLoadStyle", style="foreign.safetensors")[0]
    features = run("StyleFusionExtractFeatures", model=model, image=comfy_image())[0]
    with pytest.raises(ModelMismatchError) as err:
        run("StyleFusionGenerate", model=model, features=features, style=foreign, strength=1.0,
            preserve_color=False, seed=0)
    message = str(err.value)
    assert message.startswith("style:") and "other" in message and "tiny" in message


# -- rendering --------------------------------------------------------------------------------------
def test_style_transfer_keeps_the_content_size_and_changes_the_image(model):
    content = comfy_image(1, 72, 96, 0)
    out = run("StyleFusionStyleTransfer", model=model, content=content, style=comfy_image(1, 64, 80, 5),
              strength=1.0, preserve_color=False, seed=1)[0]
    assert out.shape == content.shape and out.dtype == torch.float32 and out.device.type == "cpu"
    assert (out - content).abs().mean() > 1e-3


def test_tiled_style_transfer_matches_the_whole_image(model):
    inputs = dict(model=model, content=comfy_image(1, 128, 136), style=comfy_image(1, 64, 64, 4), strength=0.8,
                  preserve_color=False, seed=2)
    whole = run("StyleFusionStyleTransfer", tile_size=0, **inputs)[0]
    tiled = run("StyleFusionStyleTransfer", tile_size=64, tile_overlap=16, **inputs)[0]
    assert torch.allclose(whole, tiled, atol=1e-4)


def test_a_batch_of_frames_shares_style_and_noise(model):
    one = comfy_image(1, 64, 72, 0)
    frames = torch.cat([one, one, comfy_image(1, 64, 72, 9)])
    style = comfy_image(1, 64, 64, 5)
    out = run("StyleFusionStyleTransfer", model=model, content=frames, style=style, strength=1.0,
              preserve_color=False, seed=7)[0]
    single = run("StyleFusionStyleTransfer", model=model, content=one, style=style, strength=1.0,
                 preserve_color=False, seed=7)[0]
    assert out.shape == frames.shape
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[0], single[0], atol=1e-6)
    assert not torch.allclose(out[0], out[2])


@pytest.mark.parametrize("strength, preserve_color, tile_size", [(1.0, False, 0), (0.6, True, 64)])
def test_the_style_transfer_node_gives_the_picture_of_models_transfer(model, strength, preserve_color, tile_size):
    # One code path: the node renders each frame with stylefusion.models.transfer.
    content, style = comfy_image(2, 72, 100, seed=1), comfy_image(1, 80, 80, seed=3)
    settings = dict(strength=strength, preserve_color=preserve_color, seed=7, tile_size=tile_size, tile_overlap=16)
    one = run("StyleFusionStyleTransfer", model=model, content=content[:1], style=style, **settings)[0]
    assert torch.equal(one, image_from_api(transfer(model, image_to_api(content[:1]), image_to_api(style), **settings)))
    both = run("StyleFusionStyleTransfer", model=model, content=content, style=style, **settings)[0]
    frames = [transfer(model, image_to_api(content[i:i + 1]), image_to_api(style), **settings) for i in range(2)]
    assert torch.equal(both, image_from_api(torch.cat(frames)))


def test_generate_with_region_styles_and_a_mask_of_another_size(model):
    features = run("StyleFusionExtractFeatures", model=model, image=comfy_image(2, 72, 96))[0]
    # Far-apart style vectors: a random tiny model barely separates the styles of two test pictures.
    a, b = strong_style(model, 1), strong_style(model, 2)
    mask = torch.zeros(1, 30, 40)
    mask[:, :, 20:] = 1
    common = dict(model=model, features=features, style=a, strength=1.0, preserve_color=False, seed=3)
    plain = run("StyleFusionGenerate", **common)[0]
    regions = run("StyleFusionGenerate", style_b=b, mask=mask, **common)[0]
    assert regions.shape == plain.shape == (2, 72, 96, 3)
    left = (regions[:, :, :24] - plain[:, :, :24]).abs().mean()  # black: style a (up to G's receptive field)
    right = (regions[:, :, 72:] - plain[:, :, 72:]).abs().mean()  # white: style b
    assert right > 0.01 and left < right / 10
    with pytest.raises(InputError, match="mask"):
        run("StyleFusionGenerate", style_b=b, **common)


@pytest.fixture
def vgg_model(isolated_models_dir):
    torch.manual_seed(0)
    config = TINY_CONFIG.replace(name="tiny-vgg", style_features="vgg16", style_hidden=16)
    trained_like(StyleFusionModel(config)).save_pretrained(isolated_models_dir / "stylefusion" / "tiny-vgg")
    return run("StyleFusionModelLoader", model="tiny-vgg", device="cpu", precision="fp32")[0]


def test_refine_steps_refit_the_style_to_each_picture_and_zero_renders_without(vgg_model):
    from stylefusion.models.api import DEFAULT_REFINE_STEPS

    features = run("StyleFusionExtractFeatures", model=vgg_model, image=comfy_image(2, 64, 72))[0]
    painting = comfy_image(1, 80, 80, seed=3)
    style = run("StyleFusionEncodeStyle", model=vgg_model, image=painting, reduce="per_image")[0]
    common = dict(model=vgg_model, features=features, style=style, strength=0.8, preserve_color=False, seed=2)
    plain = run("StyleFusionGenerate", refine_steps=0, **common)[0]
    refined = run("StyleFusionGenerate", refine_steps=2, **common)[0]
    assert refined.shape == plain.shape and (refined - plain).abs().mean() > 1e-4
    # The default (-1) is the model's own number of steps: this model can refine.
    assert torch.equal(run("StyleFusionGenerate", **common)[0],
                       run("StyleFusionGenerate", refine_steps=DEFAULT_REFINE_STEPS, **common)[0])
    settings = dict(model=vgg_model, content=comfy_image(1, 64, 72), style=painting, strength=1.0,
                    preserve_color=False, seed=2)
    plain = run("StyleFusionStyleTransfer", refine_steps=0, **settings)[0]
    assert (run("StyleFusionStyleTransfer", refine_steps=2, **settings)[0] - plain).abs().mean() > 1e-4
    assert torch.equal(run("StyleFusionStyleTransfer", refine_steps=-1, **settings)[0],
                       run("StyleFusionStyleTransfer", refine_steps=DEFAULT_REFINE_STEPS, **settings)[0])


def test_the_default_refine_steps_leave_a_model_that_cannot_refine_as_it_was(model):
    # Workflows saved before refine_steps existed get its default: on such a model, the same picture.
    features = run("StyleFusionExtractFeatures", model=model, image=comfy_image(2, 64, 72))[0]
    common = dict(model=model, features=features, style=style_of(model), strength=0.8, preserve_color=False, seed=2)
    assert torch.equal(run("StyleFusionGenerate", **common)[0], run("StyleFusionGenerate", refine_steps=0, **common)[0])
    settings = dict(model=model, content=comfy_image(2, 64, 72), style=comfy_image(1, 80, 80, seed=3), strength=0.8,
                    preserve_color=False, seed=2)
    assert torch.equal(run("StyleFusionStyleTransfer", **settings)[0],
                       run("StyleFusionStyleTransfer", refine_steps=0, **settings)[0])


def test_a_shared_style_is_refined_on_the_first_frame_so_every_frame_gets_the_same_vector(vgg_model):
    from stylefusion.models import extract_features, generate, refine_style

    frames = comfy_image(2, 64, 72, seed=5)
    painting = comfy_image(1, 80, 80, seed=3)
    style = run("StyleFusionEncodeStyle", model=vgg_model, image=painting, reduce="per_image")[0]
    features = run("StyleFusionExtractFeatures", model=vgg_model, image=frames)[0]
    out = run("StyleFusionGenerate", model=vgg_model, features=features, style=style, strength=1.0,
              preserve_color=False, seed=2, refine_steps=2)[0]
    first, second = (f.permute(2, 0, 1)[None] for f in frames)
    alone = generate(vgg_model, extract_features(vgg_model, second), refine_style(vgg_model, first, style, 2, seed=2),
                     1.0, seed=2)
    assert torch.allclose(out[1], alone[0].permute(1, 2, 0), atol=1e-5)
    own = generate(vgg_model, extract_features(vgg_model, second), style, 1.0, seed=2, refine_steps=2)
    assert not torch.allclose(out[1], own[0].permute(1, 2, 0), atol=1e-5)  # not refitted on frame 2 itself
    shot = run("StyleFusionStyleTransfer", model=vgg_model, content=frames, style=painting, strength=1.0,
               preserve_color=False, seed=2, refine_steps=2)[0]
    assert torch.allclose(shot[1], out[1], atol=1e-4)


def test_a_shared_style_is_fitted_once_per_batch_and_per_frame_styles_once_per_frame(vgg_model, monkeypatch):
    from stylefusion.networks.refine import StyleFit

    fits = []
    real = StyleFit.fit
    monkeypatch.setattr(StyleFit, "fit", lambda self, style, steps, lr=0.1: fits.append(style.shape[0])
                        or real(self, style, steps, lr))
    frames = comfy_image(3, 64, 72, seed=5)
    paintings = comfy_image(3, 80, 80, seed=3)
    for style in (paintings[:1], paintings):
        fits.clear()
        run("StyleFusionStyleTransfer", model=vgg_model, content=frames, style=style, strength=1.0,
            preserve_color=False, seed=2, refine_steps=2)
        assert fits == ([1] if style.shape[0] == 1 else [1, 1, 1])
        encoded = run("StyleFusionEncodeStyle", model=vgg_model, image=style, reduce="per_image")[0]
        features = run("StyleFusionExtractFeatures", model=vgg_model, image=frames)[0]
        fits.clear()
        run("StyleFusionGenerate", model=vgg_model, features=features, style=encoded, strength=1.0,
            preserve_color=False, seed=2, refine_steps=2)
        assert fits == ([1] if style.shape[0] == 1 else [1, 1, 1])


def test_refine_steps_with_a_model_without_vgg16_statistics_say_what_to_do(model):
    features = run("StyleFusionExtractFeatures", model=model, image=comfy_image())[0]
    with pytest.raises(InputError, match="^refine_steps: model tiny .*set refine_steps to 0"):
        run("StyleFusionGenerate", model=model, features=features, style=style_of(model), strength=1.0,
            preserve_color=False, seed=0, refine_steps=3)


def test_preserve_color_keeps_the_content_colours(model):
    image = comfy_image(1, 64, 64)
    features = run("StyleFusionExtractFeatures", model=model, image=image)[0]
    common = dict(model=model, features=features, style=style_of(model), strength=1.0, seed=0)
    kept = run("StyleFusionGenerate", preserve_color=True, **common)[0]
    free = run("StyleFusionGenerate", preserve_color=False, **common)[0]
    mean = image.mean(dim=(1, 2))
    assert (kept.mean(dim=(1, 2)) - mean).abs().max() < (free.mean(dim=(1, 2)) - mean).abs().max() + 1e-6


@pytest.mark.parametrize("style_source", ["a", "b", "mix"])
def test_image_fusion_of_two_sizes_gives_a_size(model, style_source):
    a, b = comfy_image(2, 72, 96, 0), comfy_image(1, 64, 64, 1)
    out = run("StyleFusionImageFusion", model=model, image_a=a, image_b=b, weight=0.5, style_source=style_source,
              seed=0)[0]
    assert out.shape == a.shape
    mask = torch.ones(2, 10, 10)
    masked = run("StyleFusionImageFusion", model=model, image_a=a, image_b=b, weight=0.5, style_source=style_source,
                 seed=0, mask=mask)[0]
    assert masked.shape == a.shape and not torch.allclose(masked, out)


# -- bad inputs -------------------------------------------------------------------------------------
def test_an_empty_batch_is_refused_by_input_name(model):
    with pytest.raises(InputError, match="content: the image batch is empty"):
        run("StyleFusionStyleTransfer", model=model, content=torch.zeros(0, 64, 64, 3), style=comfy_image(),
            strength=1.0, preserve_color=False, seed=0)
    with pytest.raises(InputError, match="image_b: the image batch is empty"):
        run("StyleFusionImageFusion", model=model, image_a=comfy_image(), image_b=torch.zeros(0, 64, 64, 3),
            weight=0.5, style_source="mix", seed=0)


def test_rgba_and_grayscale_images_are_converted(model):
    rgb = comfy_image(1, 64, 64)
    common = dict(model=model, style=comfy_image(1, 64, 64, 3), strength=1.0, preserve_color=False, seed=0)
    expected = run("StyleFusionStyleTransfer", content=rgb, **common)[0]
    rgba = torch.cat([rgb, torch.rand(1, 64, 64, 1)], dim=-1)
    assert torch.equal(run("StyleFusionStyleTransfer", content=rgba, **common)[0], expected)
    gray = rgb.mean(dim=-1, keepdim=True)
    out = run("StyleFusionStyleTransfer", content=gray, **common)[0]
    assert out.shape == (1, 64, 64, 3)
    features = run("StyleFusionExtractFeatures", model=model, image=gray[0])[0]  # a single [H,W,1] picture
    assert features.batch_size == 1


def test_other_channel_counts_and_tiny_images_are_refused_by_input_name(model):
    with pytest.raises(InputError, match="image: expected an RGB IMAGE with 3 channels"):
        run("StyleFusionExtractFeatures", model=model, image=torch.rand(1, 64, 64, 5))
    with pytest.raises(InputError, match="style: 32x40 px is too small"):
        run("StyleFusionStyleTransfer", model=model, content=comfy_image(), style=torch.rand(1, 40, 32, 3),
            strength=1.0, preserve_color=False, seed=0)
    with pytest.raises(InputError, match="image: expected an IMAGE"):
        run("StyleFusionExtractFeatures", model=model, image=None)


def test_a_mask_batch_that_fits_no_frame_count_is_refused(model):
    features = run("StyleFusionExtractFeatures", model=model, image=comfy_image(2, 64, 64))[0]
    style = style_of(model)
    with pytest.raises(InputError, match="mask: has 3 masks for a batch of 2"):
        run("StyleFusionGenerate", model=model, features=features, style=style, strength=1.0, preserve_color=False,
            seed=0, style_b=style, mask=torch.ones(3, 64, 64))
    with pytest.raises(InputError, match="mask: has 3 masks"):
        run("StyleFusionImageFusion", model=model, image_a=comfy_image(2, 64, 64), image_b=comfy_image(), weight=0.5,
            style_source="mix", seed=0, mask=torch.ones(3, 8, 8))


def test_a_style_batch_that_fits_no_frame_count_is_refused(model):
    with pytest.raises(InputError, match="style: has 2 images for a batch of 3 frames"):
        run("StyleFusionStyleTransfer", model=model, content=comfy_image(3, 64, 64), style=comfy_image(2, 64, 64),
            strength=1.0, preserve_color=False, seed=0)
    features = run("StyleFusionExtractFeatures", model=model, image=comfy_image(3, 64, 64))[0]
    styles = run("StyleFusionEncodeStyle", model=model, image=comfy_image(2, 64, 64), reduce="per_image")[0]
    with pytest.raises(InputError, match="style: has 2 style vectors for a batch of 3"):
        run("StyleFusionGenerate", model=model, features=features, style=styles, strength=1.0,
            preserve_color=False, seed=0)


def test_features_of_another_model_are_refused_with_both_names(model, other_model):
    features = run("StyleFusionExtractFeatures", model=other_model, image=comfy_image())[0]
    with pytest.raises(ModelMismatchError) as err:
        run("StyleFusionGenerate", model=model, features=features, style=style_of(model), strength=1.0,
            preserve_color=False, seed=0)
    assert str(err.value).startswith("features:") and "other" in str(err.value) and "tiny" in str(err.value)


def test_out_of_range_numbers_are_refused_by_name(model):
    a = style_of(model)
    with pytest.raises(InputError, match="weight"):
        run("StyleFusionMixStyles", style_a=a, style_b=a, weight=1.5, mode="lerp")
    with pytest.raises(InputError, match="strength"):
        run("StyleFusionStyleTransfer", model=model, content=comfy_image(), style=comfy_image(), strength=2.0,
            preserve_color=False, seed=0)


# -- inside ComfyUI (its modules faked) -------------------------------------------------------------
@pytest.fixture
def fake_comfy(monkeypatch, tmp_path):
    """Minimal stand-ins for folder_paths, comfy.utils and comfy.model_management."""
    events = {"bars": [], "interrupt_checks": 0, "interrupt": False}

    class ProgressBar:
        def __init__(self, total):
            self.total, self.updates = total, []
            events["bars"].append(self)

        def update_absolute(self, value, total=None):
            self.updates.append((value, total))

    class Interrupted(Exception):
        pass

    def throw():
        events["interrupt_checks"] += 1
        if events["interrupt"]:
            raise Interrupted("Processing interrupted")

    comfy = types.ModuleType("comfy")
    utils = types.ModuleType("comfy.utils")
    utils.ProgressBar = ProgressBar
    mm = types.ModuleType("comfy.model_management")
    mm.get_torch_device = lambda: torch.device("cpu")
    mm.throw_exception_if_processing_interrupted = throw
    comfy.utils, comfy.model_management = utils, mm
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.models_dir = str(tmp_path / "ComfyUI" / "models")
    extra = str(tmp_path / "extra" / "stylefusion")
    folder_paths.folder_names_and_paths = {"stylefusion": ([extra], set()), "checkpoints": (["x"], {".ckpt"})}
    folder_paths.get_folder_paths = lambda kind: folder_paths.folder_names_and_paths[kind][0][:]
    for name, module in {"comfy": comfy, "comfy.utils": utils, "comfy.model_management": mm,
                         "folder_paths": folder_paths}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(paths, "_provider", None)
    events.update(folder_paths=folder_paths, extra=extra, Interrupted=Interrupted)
    return events


def test_outside_comfyui_a_folder_paths_on_sys_path_is_left_alone(monkeypatch, tmp_path):
    (tmp_path / "folder_paths.py").write_text("raise RuntimeError('ComfyUI module imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "folder_paths", raising=False)
    assert comfyui.register_folders() is False
    assert comfyui.torch_device() is None
    comfyui.check_interrupt()
    assert "folder_paths" not in sys.modules


def test_register_folders_appends_to_extra_model_paths(fake_comfy):
    assert comfyui.register_folders() is True
    fp = fake_comfy["folder_paths"]
    models, extensions = fp.folder_names_and_paths["stylefusion"]
    assert models == [fake_comfy["extra"], os.path.join(fp.models_dir, "stylefusion")]
    assert extensions == {".safetensors"}
    assert fp.folder_names_and_paths["stylefusion_styles"][0] == [os.path.join(fp.models_dir, "stylefusion_styles")]
    assert fp.folder_names_and_paths["checkpoints"] == (["x"], {".ckpt"})
    # models/ now asks ComfyUI where its folders are; registering twice adds nothing.
    assert paths.folders("stylefusion") == [os.path.abspath(p) for p in models]
    comfyui.register_folders()
    assert fp.folder_names_and_paths["stylefusion"][0] == models


def test_comfyui_device_progress_and_interrupts(fake_comfy, model_name, tiny_model):
    fake_comfy["folder_paths"].folder_names_and_paths = {}
    comfyui.register_folders()
    tiny_model.save_pretrained(os.path.join(paths.folders("stylefusion")[0], "in-comfy"))
    model = run("StyleFusionModelLoader", model="in-comfy", device="auto", precision="auto")[0]
    assert model.device.type == "cpu"
    inputs = dict(model=model, content=comfy_image(2, 64, 136), style=comfy_image(1, 64, 64, 3), strength=1.0,
                  preserve_color=False, seed=0, tile_size=64, tile_overlap=16)
    run("StyleFusionStyleTransfer", **inputs)
    bar = fake_comfy["bars"][-1]
    assert bar.total == 2 and bar.updates[-1][0] == bar.updates[-1][1] > 2  # per tile of each frame
    assert fake_comfy["interrupt_checks"] >= 2
    fake_comfy["interrupt"] = True
    with pytest.raises(fake_comfy["Interrupted"]):
        run("StyleFusionStyleTransfer", **inputs)


@pytest.fixture
def model_management(fake_comfy, monkeypatch):
    """comfy.model_patcher.ModelPatcher and model management's loading and unloading, faked the way ComfyUI
    behaves: ``current_loaded_models`` holds patchers only weakly, unloading moves weights to the offload device."""
    events = {"loads": [], "patchers": []}
    loaded: list[weakref.ref] = []

    class ModelPatcher:
        def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
            self.model, self.load_device, self.offload_device = model, load_device, offload_device
            events["patchers"].append(weakref.ref(self))

        def detach(self, unpatch_all=True):
            self.model.to(self.offload_device)
            self.model.device = self.offload_device
            return self.model

    def load_models_gpu(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None,
                        force_full_load=False):
        events["loads"].append(([weakref.ref(p) for p in models], force_full_load))
        for patcher in models:
            patcher.model.to(patcher.load_device)
            patcher.model.device = patcher.load_device
            if all(ref() is not patcher for ref in loaded):
                loaded.insert(0, weakref.ref(patcher))

    def unload_all_models():
        for ref in loaded:
            if ref() is not None:
                ref().detach()
        loaded.clear()

    mm = sys.modules["comfy.model_management"]
    mm.unet_offload_device = lambda: torch.device("cpu")
    mm.load_models_gpu, mm.unload_all_models, mm.current_loaded_models = load_models_gpu, unload_all_models, loaded
    model_patcher = types.ModuleType("comfy.model_patcher")
    model_patcher.ModelPatcher = ModelPatcher
    monkeypatch.setitem(sys.modules, "comfy.model_patcher", model_patcher)
    events["current_loaded_models"] = loaded
    return events


def test_inside_comfyui_the_model_is_owned_by_model_management(model_management, model_name):
    model = run("StyleFusionModelLoader", model=model_name, device="auto", precision="auto")[0]
    patcher = model.patcher
    assert isinstance(patcher, sys.modules["comfy.model_patcher"].ModelPatcher)
    assert patcher.load_device == patcher.offload_device == torch.device("cpu")
    # The patcher moves the model's own networks (the same weights), not a copy.
    assert patcher.model.generator is model.generator and patcher.model.feature_extractor is model.feature_extractor
    assert run("StyleFusionModelLoader", model=model_name, device="auto", precision="auto")[0] is model
    assert len(model_management["patchers"]) == 1  # found in the cache: one model, one patcher

    # Every node that computes has model management load the whole model first.
    image = comfy_image(1, 64, 72)
    features = run("StyleFusionExtractFeatures", model=model, image=image)[0]
    style = run("StyleFusionEncodeStyle", model=model, image=image, reduce="per_image")[0]
    run("StyleFusionGenerate", model=model, features=features, style=style, strength=1.0, preserve_color=False, seed=0)
    run("StyleFusionStyleTransfer", model=model, content=image, style=image, strength=1.0, preserve_color=False, seed=0)
    run("StyleFusionImageFusion", model=model, image_a=image, image_b=image, weight=0.5, style_source="mix", seed=0)
    assert [([ref() for ref in refs], full) for refs, full in model_management["loads"]] == [([patcher], True)] * 5
    assert [ref() for ref in model_management["current_loaded_models"]] == [patcher]


def test_after_comfyui_unloads_and_drops_the_model_nothing_holds_it(model_management, model_name):
    model = run("StyleFusionModelLoader", model=model_name, device="auto", precision="auto")[0]
    run("StyleFusionExtractFeatures", model=model, image=comfy_image(1, 64, 72))
    sys.modules["comfy.model_management"].unload_all_models()  # POST /free {"unload_models": true}
    assert model_management["current_loaded_models"] == []
    # While ComfyUI still holds the loader's output, a rerun finds it; once it drops it, it is freed at
    # once (no reference cycle waits for the garbage collector) and the loader's cache lets go of it.
    assert run("StyleFusionModelLoader", model=model_name, device="auto", precision="auto")[0] is model
    freed, patcher = weakref.ref(model), model_management["patchers"][0]
    gc.disable()
    try:
        del model
        assert freed() is None and patcher() is None
    finally:
        gc.enable()
    assert list(loading._loaded.values()) == [] and loading._kept == {}


def test_outside_comfyui_the_loader_keeps_its_model(model_name):
    model = run("StyleFusionModelLoader", model=model_name, device="cpu", precision="fp32")[0]
    assert getattr(model, "patcher", None) is None
    comfyui.load_for_use(model)  # a no-op
    kept = weakref.ref(model)
    del model
    gc.collect()
    assert kept() is not None
    assert run("StyleFusionModelLoader", model=model_name, device="cpu", precision="fp32")[0] is kept()


def test_importing_the_pack_builds_no_model():
    code = (
        "import stylefusion.networks.model as b\n"
        "def boom(*a, **k): raise SystemExit('a model was built at import')\n"
        "b.StyleFusionModel.__init__ = boom\n"
        "b.StyleFusionModel.from_pretrained = boom\n"
        "import stylefusion, sys\n"
        "for cls in stylefusion.NODE_CLASS_MAPPINGS.values(): cls.INPUT_TYPES()\n"
        "assert 'huggingface_hub' not in sys.modules, 'huggingface_hub imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
