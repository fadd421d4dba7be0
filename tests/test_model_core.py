"""Core model: shapes, sizes, dtypes, determinism, save/load, fingerprints and every refusal."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

from stylefusion.models import (
    TINY_CONFIG,
    InputError,
    ModelFormatError,
    ModelMismatchError,
    StyleFusionConfig,
    StyleFusionModel,
    encode_style,
    extract_features,
    fuse_features,
    fuse_images,
    generate,
    mix_styles,
    refine_style,
    transfer,
)
from stylefusion.networks.config import FORMAT_VERSION

from conftest import make_image, trained_like


@pytest.mark.parametrize("size", [(64, 64), (65, 97), (200, 70), (70, 200), (81, 81)])
def test_output_has_input_size_for_odd_tall_wide(tiny_model, size):
    h, w = size
    out = transfer(tiny_model, make_image(1, h, w), make_image(1, 80, 80, seed=1))
    assert out.shape == (1, 3, h, w)
    assert out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1


def test_batches_and_style_broadcast(tiny_model):
    content = make_image(3, 64, 96)
    out = transfer(tiny_model, content, make_image(1, 64, 64, seed=2))
    assert out.shape == (3, 3, 64, 96)
    styles = encode_style(tiny_model, make_image(3, 64, 64, seed=3))
    assert styles.tensor.shape == (3, TINY_CONFIG.style_dim)
    avg = encode_style(tiny_model, make_image(3, 64, 64, seed=3), reduce="average")
    assert avg.tensor.shape == (1, TINY_CONFIG.style_dim)
    feats = extract_features(tiny_model, content)
    assert generate(tiny_model, feats, styles).shape == (3, 3, 64, 96)


def test_same_seed_same_output_and_seed_matters(tiny_model):
    # Give the noise a visible effect (fresh models start with zero noise strength).
    for conv in tiny_model.generator.mod_convs:
        conv.noise_strength.data.fill_(0.5)
    tiny_model.weights_changed()
    c, s = make_image(1, 64, 64), make_image(1, 64, 64, seed=5)
    a = transfer(tiny_model, c, s, seed=7)
    b = transfer(tiny_model, c, s, seed=7)
    d = transfer(tiny_model, c, s, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, d)


def test_same_noise_for_every_frame_of_a_batch(tiny_model):
    for conv in tiny_model.generator.mod_convs:
        conv.noise_strength.data.fill_(0.5)
    tiny_model.weights_changed()
    frame = make_image(1, 64, 64)
    out = transfer(tiny_model, frame.repeat(2, 1, 1, 1), make_image(1, 64, 64, seed=1), seed=3)
    assert torch.allclose(out[0], out[1], atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_dtypes(tiny_model, dtype):
    model = tiny_model.to(dtype=dtype)
    out = transfer(model, make_image(1, 64, 72), make_image(1, 64, 64, seed=1))
    assert out.dtype == torch.float32 and out.shape == (1, 3, 64, 72)
    assert torch.isfinite(out).all()


def test_strength_zero_uses_the_photos_own_style(tiny_model):
    c, s = make_image(1, 64, 64), make_image(1, 64, 64, seed=9)
    feats = extract_features(tiny_model, c)
    own = encode_style(tiny_model, c)
    zero = generate(tiny_model, feats, encode_style(tiny_model, s), strength=0.0)
    assert torch.allclose(zero, generate(tiny_model, feats, own, strength=1.0), atol=1e-5)
    full = generate(tiny_model, feats, encode_style(tiny_model, s), strength=1.0)
    assert not torch.allclose(zero, full, atol=1e-4)


def test_preserve_color_keeps_the_photos_chroma(tiny_model):
    from stylefusion.networks.color import rgb_to_ycbcr

    c, s = make_image(1, 64, 64), make_image(1, 64, 64, seed=4)
    feats = extract_features(tiny_model, c)
    out = generate(tiny_model, feats, encode_style(tiny_model, s), preserve_color=True)
    chroma_out, chroma_c = rgb_to_ycbcr(out)[:, 1:], rgb_to_ycbcr(c)[:, 1:]
    inside = ((out > 0.02) & (out < 0.98)).all(dim=1, keepdim=True)  # clamping to 0..1 shifts chroma
    assert inside.float().mean() > 0.3
    assert (chroma_out - chroma_c).abs()[inside.expand_as(chroma_out)].mean() < 0.02


def test_region_styles_with_mask(tiny_model):
    c = make_image(1, 64, 128)
    feats = extract_features(tiny_model, c)
    sa = encode_style(tiny_model, make_image(1, 64, 64, seed=1))
    sb = replace(sa, tensor=-3 * sa.tensor / sa.tensor.norm())  # a clearly different style vector
    mask = torch.zeros(64, 128)
    mask[:, 64:] = 1
    out = generate(tiny_model, feats, sa, style_b=sb, mask=mask)
    only_a = generate(tiny_model, feats, sa)
    only_b = generate(tiny_model, feats, sb)
    # (Region styles take the plain formulas, single styles the fused inference route: 1e-3 apart at most.)
    assert torch.allclose(out[..., :, :40], only_a[..., :, :40], atol=1e-3)
    assert torch.allclose(out[..., :, 88:], only_b[..., :, 88:], atol=1e-3)
    assert (only_a - only_b).abs().mean() > 0.01
    # A mask of another size is resized; one with a wrong batch size is refused.
    assert generate(tiny_model, feats, sa, style_b=sb, mask=torch.zeros(1, 13, 17)).shape == out.shape
    with pytest.raises(InputError, match="mask"):
        generate(tiny_model, feats, sa, style_b=sb, mask=torch.zeros(3, 64, 128))


def test_masked_style_encoding(tiny_model):
    img = make_image(1, 64, 64)
    img[..., :, 32:] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    left = torch.zeros(64, 64)
    left[:, :32] = 1
    a = encode_style(tiny_model, img, mask=left)
    b = encode_style(tiny_model, img, mask=1 - left)
    assert not torch.allclose(a.tensor, b.tensor)
    with pytest.raises(InputError, match="mask.*empty"):
        encode_style(tiny_model, img, mask=torch.zeros(64, 64))


@pytest.mark.parametrize("mode", ["blend", "mask", "stats"])
def test_fuse_features_has_a_size(tiny_model, mode):
    fa = extract_features(tiny_model, make_image(2, 64, 96))
    fb = extract_features(tiny_model, make_image(1, 80, 64, seed=3))
    mask = torch.ones(64, 96) if mode == "mask" else None
    fused = fuse_features(fa, fb, 0.5, mask, mode)
    assert fused.tensor.shape == fa.tensor.shape and fused.image_size == (64, 96)
    assert not torch.allclose(fused.tensor, fa.tensor)
    assert torch.allclose(fuse_features(fa, fb, 0.0, None, "blend").tensor, fa.tensor)


def test_fuse_images_one_shot(tiny_model):
    out = fuse_images(tiny_model, make_image(1, 64, 96), make_image(1, 72, 72, seed=2), weight=0.3, style_source="mix")
    assert out.shape == (1, 3, 64, 96)
    with pytest.raises(InputError, match="style_source"):
        fuse_images(tiny_model, make_image(1, 64, 64), make_image(1, 64, 64), style_source="c")


def test_mix_styles_lerp_and_slerp(tiny_model):
    a = encode_style(tiny_model, make_image(1, 64, 64, seed=1))
    b = encode_style(tiny_model, make_image(1, 64, 64, seed=2))
    c = encode_style(tiny_model, make_image(1, 64, 64, seed=3))
    assert torch.allclose(mix_styles([a, b], [1, 0]).tensor, a.tensor)
    assert torch.allclose(mix_styles([a, b], [0, 1], "slerp").tensor, b.tensor, atol=1e-5)
    lerp3 = mix_styles([a, b, c], [1, 1, 2])
    assert torch.allclose(lerp3.tensor, (a.tensor + b.tensor + 2 * c.tensor) / 4, atol=1e-6)
    mid = mix_styles([a, b], [1, 1], "slerp").tensor
    expected_norm = (a.tensor.norm() + b.tensor.norm()) / 2
    assert torch.allclose(mid.norm(), expected_norm, rtol=1e-4)
    with pytest.raises(InputError, match="weight"):
        mix_styles([a, b], [0, 0])
    with pytest.raises(InputError, match="mode"):
        mix_styles([a, b], [1, 1], "cubic")


# -- image statistics and style refinement -----------------------------------------------------------
@pytest.fixture
def vgg_model() -> StyleFusionModel:
    torch.manual_seed(0)
    return trained_like(StyleFusionModel(TINY_CONFIG.replace(name="tiny-vgg", style_features="vgg16", style_hidden=16)))


def test_encode_style_keeps_the_statistics_of_a_vgg16_encoder_only(vgg_model, tiny_model):
    paintings = make_image(2, 72, 64, seed=4)
    per_image = encode_style(vgg_model, paintings)
    enc = vgg_model.style_encoder
    with torch.no_grad():
        assert torch.equal(per_image.statistics, enc.describe(paintings))
        assert torch.equal(per_image.tensor, enc(paintings))  # one VGG pass, the same vectors as before
    average = encode_style(vgg_model, paintings, reduce="average")
    assert torch.allclose(average.statistics, per_image.statistics.mean(dim=0, keepdim=True))
    mask = torch.zeros(72, 64)
    mask[:, :32] = 1
    masked = encode_style(vgg_model, paintings, mask=mask)
    with torch.no_grad():
        assert torch.equal(masked.statistics, enc.describe(paintings, mask[None, None].expand(2, 1, 72, 64)))
    assert encode_style(tiny_model, paintings).statistics is None


def test_mix_styles_mixes_statistics_linearly_when_every_style_has_them(vgg_model):
    a = encode_style(vgg_model, make_image(1, 64, 64, seed=1))
    b = encode_style(vgg_model, make_image(2, 64, 64, seed=2))
    for mode in ("lerp", "slerp"):
        mixed = mix_styles([a, b], [1, 3], mode)
        assert mixed.statistics.shape == b.statistics.shape
        assert torch.allclose(mixed.statistics, (a.statistics + 3 * b.statistics) / 4, atol=1e-6)
    assert mix_styles([a, replace(b, statistics=None)], [1, 1]).statistics is None


def test_style_files_keep_statistics_and_old_files_load_without_them(vgg_model, tmp_path):
    from stylefusion.storage.style_file import STYLE_KEY, load_style, save_style
    from stylefusion.storage.weights import read_safetensors, write_safetensors

    style = encode_style(vgg_model, make_image(2, 64, 64, seed=3))
    path = save_style(style, tmp_path / "s")
    loaded = load_style(path, vgg_model)
    assert torch.equal(loaded.tensor, style.tensor) and torch.equal(loaded.statistics, style.statistics)
    # A file written before statistics existed: the vectors only.
    tensors, meta = read_safetensors(path)
    write_safetensors(str(tmp_path / "old.safetensors"), {STYLE_KEY: tensors[STYLE_KEY]}, meta)
    old = load_style(tmp_path / "old.safetensors", vgg_model)
    assert old.statistics is None and torch.equal(old.tensor, style.tensor)
    assert load_style(save_style(replace(style, statistics=None), tmp_path / "none")).statistics is None


def test_refine_style_lowers_the_fit_loss_and_leaves_the_model_untouched(vgg_model):
    from stylefusion.models.api import _fit_picture
    from stylefusion.networks.refine import StyleFit

    photo = make_image(2, 72, 96, seed=1)
    features = extract_features(vgg_model, photo)
    style = encode_style(vgg_model, make_image(1, 80, 64, seed=2), name="painting")
    weights = {k: v.clone() for k, v in vgg_model.state_dict().items()}
    flags = {k: p.requires_grad for k, p in vgg_model.named_parameters()}
    refined = refine_style(vgg_model, features, style, 8, size=64, seed=3)
    assert refined.tensor.shape == (2, TINY_CONFIG.style_dim)  # one vector per picture
    assert refined.name == "painting (refined)" and refined.model_fingerprint == style.model_fingerprint
    assert torch.equal(refined.statistics, style.statistics.expand(2, -1))
    fit = StyleFit(vgg_model, _fit_picture(photo, 64), refined.statistics, 0.1, 3)
    with torch.no_grad():
        assert (fit.loss(refined.tensor) < fit.loss(style.tensor.expand(2, -1))).all()
    assert all(torch.equal(weights[k], v) for k, v in vgg_model.state_dict().items())
    assert all(p.grad is None and p.requires_grad == flags[k] for k, p in vgg_model.named_parameters())
    assert refine_style(vgg_model, features, style, 0) is style
    # Rendering: 0 steps is the picture as before; some steps change it.
    before = generate(vgg_model, features, style, 0.8, seed=1)
    assert torch.equal(generate(vgg_model, features, style, 0.8, seed=1, refine_steps=0), before)
    assert not torch.allclose(generate(vgg_model, features, style, 0.8, seed=1, refine_steps=1), before)


def test_the_fits_palette_target_is_the_palette_e_s_read_of_the_painting(vgg_model):
    from stylefusion.networks.refine import palette_of, palette_target

    painting = make_image(2, 80, 64, seed=4)
    statistics = vgg_model.style_encoder.describe(painting)
    assert torch.allclose(palette_target(statistics), palette_of(vgg_model.style_encoder.resized(painting)), atol=1e-5)


def test_the_default_refinement_is_the_models_own_and_a_style_vector_transfers_like_its_picture(vgg_model):
    from stylefusion.models.api import AUTO_REFINE_STEPS, DEFAULT_REFINE_STEPS, resolve_refine_steps

    photo, painting = make_image(2, 64, 72, seed=1), make_image(1, 80, 64, seed=2)
    style = encode_style(vgg_model, painting)
    assert resolve_refine_steps(vgg_model, AUTO_REFINE_STEPS, style) == DEFAULT_REFINE_STEPS
    assert resolve_refine_steps(vgg_model, AUTO_REFINE_STEPS, replace(style, statistics=None)) == 0
    assert resolve_refine_steps(vgg_model, 7, style) == 7
    # refine_style fits on features or on the pictures themselves, alike.
    on_image = refine_style(vgg_model, photo[:1], style, 3, seed=1)
    assert torch.equal(on_image.tensor, refine_style(vgg_model, extract_features(vgg_model, photo[:1]), style, 3,
                                                     seed=1).tensor)
    # transfer takes an encoded (here refined) style as well as a picture.
    assert torch.equal(transfer(vgg_model, photo, style, 0.7, seed=1), transfer(vgg_model, photo, painting, 0.7, seed=1))
    refined = transfer(vgg_model, photo[:1], on_image, 0.7, seed=1)
    assert torch.allclose(refined, transfer(vgg_model, photo[:1], painting, 0.7, seed=1, refine_steps=3), atol=1e-5)
    with pytest.raises(InputError, match="^style: expected a StyleVector|^style: "):
        transfer(vgg_model, photo, object())


def test_refinement_runs_inside_inference_mode_and_in_half_precision(vgg_model):
    photo, painting = make_image(1, 64, 72), make_image(1, 64, 64, seed=5)
    with torch.inference_mode():  # as ComfyUI runs nodes; the model is loaded inside it too
        model = StyleFusionModel(vgg_model.config)
        model.load_state_dict(vgg_model.state_dict())
        out = transfer(model, photo, painting, 0.7, seed=1, refine_steps=2)
    assert out.shape == (1, 3, 64, 72) and torch.isfinite(out).all()
    half = vgg_model.to(dtype=torch.bfloat16)
    out = generate(half, extract_features(half, photo), encode_style(half, painting), refine_steps=2)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_refinement_errors_name_the_input_and_what_to_do(vgg_model, tiny_model):
    features = extract_features(tiny_model, make_image(1, 64, 64))
    style = encode_style(tiny_model, make_image(1, 64, 64, seed=1))
    with pytest.raises(InputError, match=r"^refine_steps: model tiny \[\w+\] has no VGG16 style encoder .*set "
                                         "refine_steps to 0 or load a model with style_features 'vgg16'"):
        generate(tiny_model, features, style, refine_steps=5)
    assert torch.equal(generate(tiny_model, features, style, refine_steps=0), generate(tiny_model, features, style))
    vgg_features = extract_features(vgg_model, make_image(1, 64, 64))
    bare = replace(encode_style(vgg_model, make_image(1, 64, 64, seed=1)), statistics=None)
    with pytest.raises(InputError, match="^style: has no image statistics to refine against .*encode it again with "
                                         "Encode Style, or set refine_steps to 0"):
        refine_style(vgg_model, vgg_features, bare, 5)
    with pytest.raises(InputError, match="^style_b: has no image statistics"):
        generate(vgg_model, vgg_features, encode_style(vgg_model, make_image(1, 64, 64)), style_b=bare,
                 mask=torch.ones(64, 64), refine_steps=1)
    for steps in (-2, 1001, 2.5, True, "40", None):
        with pytest.raises(InputError, match="^refine_steps: "):
            generate(vgg_model, vgg_features, bare, refine_steps=steps)
    # -1 is the model's default: refinement where it can run, none where it cannot (an old style file).
    assert torch.equal(generate(vgg_model, vgg_features, bare, refine_steps=-1), generate(vgg_model, vgg_features, bare))
    assert torch.equal(generate(tiny_model, features, style, refine_steps=-1), generate(tiny_model, features, style))


# -- save / load -------------------------------------------------------------------------------------
def test_save_load_round_trip_is_bit_exact(tiny_model, tmp_path):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    assert sorted(os.listdir(folder)) == ["README.md", "config.json", "model.safetensors"]
    loaded = StyleFusionModel.from_pretrained(folder)
    for (k, v), (k2, v2) in zip(tiny_model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert loaded.fingerprint == tiny_model.fingerprint
    assert loaded.config == tiny_model.config
    c, s = make_image(1, 64, 64), make_image(1, 64, 64, seed=1)
    assert torch.equal(transfer(tiny_model, c, s, seed=1), transfer(loaded, c, s, seed=1))
    # The single-file form carries its config.
    single = StyleFusionModel.from_pretrained(os.path.join(folder, "model.safetensors"))
    assert single.fingerprint == tiny_model.fingerprint


def test_fingerprint_is_stable_and_tracks_weights(tiny_model, tmp_path):
    fp = tiny_model.fingerprint
    assert fp == StyleFusionModel.from_pretrained(tiny_model.save_pretrained(tmp_path / "a")).fingerprint
    tiny_model.to(dtype=torch.bfloat16)
    assert tiny_model.fingerprint == fp  # a dtype move is not a new model
    other = StyleFusionModel(TINY_CONFIG)
    assert other.fingerprint != fp
    renamed = StyleFusionModel(TINY_CONFIG.replace(name="renamed"))
    renamed.load_state_dict(other.state_dict())
    assert renamed.fingerprint != other.fingerprint


def test_config_round_trip_and_refusals(tmp_path):
    cfg = StyleFusionConfig(name="x", style_dim=32)
    assert StyleFusionConfig.from_dict(json.loads(cfg.to_json())) == cfg
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**cfg.to_dict(), "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ModelFormatError, match=r"config.json.*newer"):
        StyleFusionConfig.load(path)
    path.write_text(json.dumps({**cfg.to_dict(), "colour_magic": 3}))
    with pytest.raises(ModelFormatError, match=r"config.json.*unknown field 'colour_magic'"):
        StyleFusionConfig.load(path)
    path.write_text(json.dumps({**cfg.to_dict(), "style_dim": -1}))
    with pytest.raises(ModelFormatError, match="style_dim"):
        StyleFusionConfig.load(path)
    path.write_text("{not json")
    with pytest.raises(ModelFormatError, match="JSON"):
        StyleFusionConfig.load(path)


def test_mismatched_tensors_are_refused_naming_file_and_tensor(tiny_model, tmp_path):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    bigger = TINY_CONFIG.replace(style_dim=TINY_CONFIG.style_dim + 1)
    with open(os.path.join(folder, "config.json"), "w") as fh:
        fh.write(bigger.to_json())
    with pytest.raises(ModelFormatError, match=r"model.safetensors: tensor '.*' has shape"):
        StyleFusionModel.from_pretrained(folder)
    folder2 = tiny_model.save_pretrained(tmp_path / "m2")
    sd = {k: v for k, v in tiny_model.state_dict().items()}
    sd["generator.extra"] = torch.zeros(1)
    save_file(sd, os.path.join(folder2, "model.safetensors"))
    with pytest.raises(ModelFormatError, match="unexpected tensor 'generator.extra'"):
        StyleFusionModel.from_pretrained(folder2)
    sd.pop("generator.extra")
    sd.pop(next(iter(sd)))
    save_file(sd, os.path.join(folder2, "model.safetensors"))
    with pytest.raises(ModelFormatError, match="is missing"):
        StyleFusionModel.from_pretrained(folder2)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".bin"])
def test_pickle_files_are_refused_without_unpickling(tmp_path, suffix, monkeypatch):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04not really a pickle")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must never be called"))
    with pytest.raises(ModelFormatError, match="only .safetensors weights are loaded"):
        StyleFusionModel.from_pretrained(path)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / f"pytorch_model{suffix}").write_bytes(b"x")
    with pytest.raises(ModelFormatError, match="only .safetensors"):
        StyleFusionModel.from_pretrained(folder)


def test_truncated_or_foreign_weights_are_refused(tiny_model, tmp_path):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    weights = os.path.join(folder, "model.safetensors")
    data = open(weights, "rb").read()
    with open(weights, "wb") as fh:
        fh.write(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="model.safetensors"):
        StyleFusionModel.from_pretrained(folder)
    with open(weights, "wb") as fh:
        fh.write(b"GIF89a" + b"\0" * 100)
    with pytest.raises(ModelFormatError, match="not a safetensors file|not a valid safetensors"):
        StyleFusionModel.from_pretrained(folder)


def test_save_is_atomic_and_leaves_no_temp_files(tiny_model, tmp_path, monkeypatch):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    before = open(os.path.join(folder, "model.safetensors"), "rb").read()
    import stylefusion.storage.weights as weights

    def broken_save(tensors, path, metadata=None):
        with open(path, "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(weights, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        StyleFusionModel(TINY_CONFIG).save_pretrained(folder)
    assert open(os.path.join(folder, "model.safetensors"), "rb").read() == before
    assert sorted(os.listdir(folder)) == ["README.md", "config.json", "model.safetensors"]


def test_saved_files_get_the_permissions_of_any_new_file(tiny_model, tmp_path):
    umask = os.umask(0o022)
    try:
        folder = tiny_model.save_pretrained(tmp_path / "m")
    finally:
        os.umask(umask)
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o644, name


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image, message",
    [
        (torch.zeros(0, 3, 64, 64), "empty"),
        (torch.zeros(1, 3, 1, 1), "too small"),
        (torch.zeros(1, 3, 63, 200), "too small"),
        (torch.zeros(1, 4, 64, 64), "3 colour channels"),
        (torch.zeros(1, 1, 64, 64), "3 colour channels"),
        (torch.full((1, 3, 64, 64), float("nan")), "NaN"),
        (torch.full((1, 3, 64, 64), float("inf")), "NaN or infinite"),
        (torch.zeros(3, 64, 64), "batch"),
        ("not a tensor", "expected an image tensor"),
    ],
)
def test_bad_images_are_refused_by_name(tiny_model, image, message):
    with pytest.raises(InputError, match=f"content: .*{message}|content:.*{message}"):
        transfer(tiny_model, image, make_image(1, 64, 64))
    with pytest.raises(InputError, match=f"style.*{message}"):
        transfer(tiny_model, make_image(1, 64, 64), image)


def test_values_from_another_model_are_refused_with_both_names(tiny_model):
    other = StyleFusionModel(TINY_CONFIG.replace(name="other"))
    feats = extract_features(other, make_image(1, 64, 64))
    style = encode_style(tiny_model, make_image(1, 64, 64))
    with pytest.raises(ModelMismatchError, match=r"features: .*other.*tiny"):
        generate(tiny_model, feats, style)
    own = extract_features(tiny_model, make_image(1, 64, 64))
    with pytest.raises(ModelMismatchError, match=r"style: .*tiny"):
        generate(other, extract_features(other, make_image(1, 64, 64)), style)
    with pytest.raises(ModelMismatchError, match="features_b"):
        fuse_features(own, feats)
    with pytest.raises(ModelMismatchError, match="style_2"):
        mix_styles([style, encode_style(other, make_image(1, 64, 64))], [1, 1])


def test_out_of_range_numbers_are_refused(tiny_model):
    feats = extract_features(tiny_model, make_image(1, 64, 64))
    style = encode_style(tiny_model, make_image(1, 64, 64))
    with pytest.raises(InputError, match="strength"):
        generate(tiny_model, feats, style, strength=1.5)
    with pytest.raises(InputError, match="weight"):
        fuse_features(feats, feats, weight=float("nan"))


def test_flops_and_parameters_stated_in_docstrings_match_the_default_model():
    """The docstrings promise ≈5.0 (E_c) + 9.7 (G) GFLOPs/MP; keep them honest."""
    from stylefusion.networks.layers import mac_count

    model = StyleFusionModel(StyleFusionConfig())
    x = torch.rand(1, 3, 128, 128)
    ec = 2 * mac_count(model.feature_extractor, x) / x[0, 0].numel() * 1e6 / 1e9
    g = 2 * mac_count(model.generator, model.feature_extractor(x), torch.zeros(1, 64)) / x[0, 0].numel() * 1e6 / 1e9
    assert abs(ec - 5.0) < 0.3 and abs(g - 9.7) < 0.3


def test_parameter_counts_stated_in_docstrings():
    from stylefusion.networks.discriminator import Discriminator

    model = StyleFusionModel(StyleFusionConfig())
    counts = {n: sum(p.numel() for p in getattr(model, n).parameters())
              for n in ("feature_extractor", "style_encoder", "generator")}
    assert round(counts["feature_extractor"] / 1e6, 2) == 0.12
    assert round(counts["style_encoder"] / 1e6, 2) == 0.26
    assert round(counts["generator"] / 1e6, 2) == 0.40
    assert round(sum(p.numel() for p in Discriminator(model.config).parameters()) / 1e6, 2) == 1.65
    vgg = StyleFusionModel(StyleFusionConfig(style_features="vgg16")).style_encoder
    frozen = sum(p.numel() for p in vgg.features.parameters())
    assert round(frozen / 1e6, 1) == 2.9
    assert round((sum(p.numel() for p in vgg.parameters()) - frozen) / 1e6, 1) == 0.5
