"""Tiled execution: tiled output equals untiled output, no seams, OOM retry, progress, bounded tiles.

Tolerance: tiles carry a halo larger than the networks' receptive fields, so a tiled result differs
from the untiled one only by float32 rounding (different conv block shapes, the feathered blend of
two nearly equal values). We allow 1e-4 absolute on 0..1 images (measured: ~1e-6), far below one
8-bit grey level (3.9e-3).
"""

from __future__ import annotations

import pytest
import torch

from stylefusion.models import extract_features, generate, transfer
from stylefusion.models.api import encode_style
from stylefusion.networks.tiling import MIN_TILE, run_tiled, tile_starts

from conftest import make_image

TOLERANCE = 1e-4
H, W, TILE = 200, 320, 128


@pytest.fixture
def noisy_model(tiny_model):
    """The tiny model with noise switched on, so tiles must also agree on the noise z."""
    for conv in tiny_model.generator.mod_convs:
        conv.noise_strength.data.fill_(0.5)
    tiny_model.weights_changed()
    return tiny_model


def _tile_edges(size: int, tile: int, overlap: int) -> list[int]:
    """Pixel positions where a tile starts or ends inside the image (where a seam would be)."""
    starts = tile_starts(size, tile, overlap, 8)
    edges = {s for s in starts if s > 0} | {s + tile for s in starts if s + tile < size}
    return sorted(edges)


def _column_gradient_energy(image: torch.Tensor) -> torch.Tensor:
    """Mean squared horizontal difference between column x−1 and x, for each x ≥ 1 → [W−1]."""
    return (image[..., :, 1:] - image[..., :, :-1]).square().mean(dim=(0, 1, 2))


def _row_gradient_energy(image: torch.Tensor) -> torch.Tensor:
    return (image[..., 1:, :] - image[..., :-1, :]).square().mean(dim=(0, 1, 3))


def test_tiled_transfer_matches_untiled(noisy_model):
    content, style = make_image(1, H, W), make_image(1, 96, 96, seed=4)
    full = transfer(noisy_model, content, style, seed=3)
    tiled = transfer(noisy_model, content, style, seed=3, tile_size=TILE, tile_overlap=32)
    assert tiled.shape == full.shape == (1, 3, H, W)
    assert (tiled - full).abs().max().item() <= TOLERANCE


def test_tiled_content_features_match_untiled(tiny_model):
    image = make_image(1, H, W)
    full = extract_features(tiny_model, image).tensor
    tiled = extract_features(tiny_model, image, tile_size=TILE).tensor
    assert tiled.shape == full.shape
    assert (tiled - full).abs().max().item() <= TOLERANCE


def test_odd_sizes_and_overlap_larger_than_half_a_tile(noisy_model):
    content, style = make_image(1, 131, 197), make_image(1, 64, 64, seed=2)
    full = transfer(noisy_model, content, style)
    tiled = transfer(noisy_model, content, style, tile_size=72, tile_overlap=500)  # overlap is capped
    assert tiled.shape == (1, 3, 131, 197)
    assert (tiled - full).abs().max().item() <= TOLERANCE


def test_no_seams_along_tile_borders(noisy_model):
    """Gradient energy across tile borders is what it is elsewhere (and what it is untiled).

    A control assembles tiles rendered *without* a halo; its borders must stand out, which shows
    the check can see a seam.
    """
    content, style = make_image(1, H, W), make_image(1, 96, 96, seed=4)
    features = extract_features(noisy_model, content)
    style_vec = encode_style(noisy_model, style)
    overlap = 32
    full = generate(noisy_model, features, style_vec, seed=1)
    tiled = generate(noisy_model, features, style_vec, seed=1, tile_size=TILE, tile_overlap=overlap)

    cols, rows = _tile_edges(W, TILE, overlap), _tile_edges(H, TILE, overlap)
    assert cols and rows
    e_tiled, e_full = _column_gradient_energy(tiled), _column_gradient_energy(full)
    r_tiled, r_full = _row_gradient_energy(tiled), _row_gradient_energy(full)
    border_cols, border_rows = [c - 1 for c in cols], [r - 1 for r in rows]  # energy index x−1 ↔ pair (x−1, x)
    typical = torch.cat([e_tiled, r_tiled]).median()
    assert torch.allclose(e_tiled[border_cols], e_full[border_cols], rtol=1e-3, atol=1e-9)
    assert torch.allclose(r_tiled[border_rows], r_full[border_rows], rtol=1e-3, atol=1e-9)
    assert e_tiled[border_cols].max() <= 4 * typical and r_tiled[border_rows].max() <= 4 * typical

    # Control: tiles without halo or overlap (each tile zero-pads its own borders) do show seams.
    gen = noisy_model.generator
    with torch.no_grad():
        params = gen.style_params(style_vec.tensor)
        body = gen.body(features.tensor, params)
        from stylefusion.networks.generator import make_noise

        noise = make_noise(1, H, W, gen.noise_strides)

        def naive(region):
            t, l, b, r = region
            z = [n[..., t // k:b // k, l // k:r // k] for n, k in zip(noise, gen.noise_strides)]
            return gen.render(body[..., t // 8:b // 8, l // 8:r // 8], params, z)

        seamed = run_tiled(naive, H, W, TILE, 0)
    seam_cols = _tile_edges(W, TILE, 0)
    excess = (_column_gradient_energy(seamed)[[c - 1 for c in seam_cols]] - e_full[[c - 1 for c in seam_cols]])
    assert excess.abs().max() > 10 * (e_tiled[border_cols] - e_full[border_cols]).abs().max() + 1e-7


def test_out_of_memory_retries_with_half_the_tile():
    calls: list[tuple[int, int, int, int]] = []
    failed = []

    def region(r):
        calls.append(r)
        top, left, bottom, right = r
        if not failed:
            failed.append(r)
            raise torch.OutOfMemoryError("fake: CUDA out of memory")
        ys = torch.arange(top, bottom, dtype=torch.float32)[:, None]
        xs = torch.arange(left, right, dtype=torch.float32)[None, :]
        return (ys * 1000 + xs).expand(1, 1, -1, -1)

    out = run_tiled(region, 256, 384, 256, 32)
    expected = torch.arange(256.0)[:, None] * 1000 + torch.arange(384.0)[None, :]
    assert torch.allclose(out[0, 0], expected, rtol=1e-6)  # feathering blends equal values exactly
    assert failed[0][2] - failed[0][0] == 256  # first attempt: full tile
    sizes = {(b - t, r - l) for t, l, b, r in calls[1:]}
    assert max(max(s) for s in sizes) <= 128  # every retry tile is at most half


def test_out_of_memory_at_the_smallest_tile_is_raised():
    def region(r):
        raise torch.OutOfMemoryError("fake: out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        run_tiled(region, 512, 512, 256, 32)


def test_other_errors_are_not_retried():
    count = [0]

    def region(r):
        count[0] += 1
        raise ValueError("a real bug")

    with pytest.raises(ValueError):
        run_tiled(region, 256, 256, 128, 16)
    assert count[0] == 1


def test_progress_counts_every_tile_once():
    seen: list[tuple[int, int]] = []
    out = run_tiled(lambda r: torch.ones(1, 3, r[2] - r[0], r[3] - r[1]), 200, 320, 128, 32,
                    progress=lambda done, total: seen.append((done, total)))
    total = len(tile_starts(200, 128, 32, 8)) * len(tile_starts(320, 128, 32, 8))
    assert seen == [(i, total) for i in range(1, total + 1)]
    assert torch.allclose(out, torch.ones(1, 3, 200, 320))


def test_progress_through_transfer(tiny_model):
    seen: list[tuple[int, int]] = []
    transfer(tiny_model, make_image(1, H, W), make_image(1, 64, 64, seed=1), tile_size=TILE,
             progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == list(range(1, len(seen) + 1))


def test_tiles_never_exceed_the_tile_size():
    """Memory is bounded by the tile: the region function never sees more than tile × tile."""
    regions = []

    def region(r):
        regions.append(r)
        return torch.zeros(1, 3, r[2] - r[0], r[3] - r[1])

    run_tiled(region, 1000, 1400, 256, 64)
    assert max(b - t for t, _, b, _ in regions) <= 256 and max(r - l for _, l, _, r in regions) <= 256
    assert MIN_TILE <= 256
    # Tiles cover the whole image.
    covered = torch.zeros(1000, 1400, dtype=torch.bool)
    for t, l, b, r in regions:
        covered[t:b, l:r] = True
    assert covered.all()


def test_tiled_output_keeps_the_pieces_memory_layout():
    """Channels-last pieces (what the fast render returns) are assembled without a layout change."""

    def region(r):
        return torch.rand(1, 3, r[2] - r[0], r[3] - r[1]).contiguous(memory_format=torch.channels_last)

    out = run_tiled(region, 128, 192, 64, 16)
    assert out.is_contiguous(memory_format=torch.channels_last)


def _trained_like(model):
    """Weights off the near-identity init, so the body's AdaIN statistics matter to the picture."""
    torch.manual_seed(0)
    for p in model.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    model.weights_changed()
    return model


@pytest.mark.parametrize("strength", [1.0, 0.7])
def test_streamed_transfer_matches_the_whole_picture(noisy_model, monkeypatch, strength):
    """Above STREAM_ABOVE_PIXELS a tiled transfer never holds the stride-8 maps: E_c runs per tile and
    the body's statistics are gathered in passes. The picture is the same."""
    from stylefusion.networks import generator

    model = _trained_like(noisy_model)
    content, style = make_image(1, H, W), make_image(1, 80, 80, seed=2)
    whole = transfer(model, content, style, strength=strength, seed=3, tile_size=TILE)
    monkeypatch.setattr(generator, "STREAM_ABOVE_PIXELS", 0)
    encoder, regions = model.feature_extractor, []
    monkeypatch.setattr(encoder, "encode", lambda *a, **k: pytest.fail("the whole code was computed"))
    encode_region = encoder.encode_region
    monkeypatch.setattr(encoder, "encode_region", lambda *a, **k: regions.append(a[1:]) or encode_region(*a, **k))
    streamed = transfer(model, content, style, strength=strength, seed=3, tile_size=TILE)
    assert (streamed - whole).abs().max().item() <= TOLERANCE
    # One pass per statistic (2 per AdaIN block + the palette), then one region per rendered tile.
    assert len(set(regions)) < len(regions) and len(regions) > 2 * len(model.generator.blocks) + 1


def test_streamed_region_styles_match_the_whole_picture(noisy_model):
    import functools

    model = _trained_like(noisy_model)
    gen, encoder = model.generator, model.feature_extractor
    image = make_image(1, H, W)
    styles = encode_style(model, make_image(2, 64, 64, seed=3)).tensor
    source = encode_style(model, image).tensor
    mask = torch.zeros(1, 1, H, W)
    mask[..., W // 2:] = 1
    args = dict(style=styles[:1], image_size=(H, W), strength=0.8, seed=1, style_b=styles[1:], mask=mask, tile_size=TILE)
    with torch.no_grad():
        whole = gen.generate(encoder.encode(image), source, **args)
        streamed = gen.generate(functools.partial(encoder.encode_region, image), source, **args)
    assert (streamed - whole).abs().max().item() <= TOLERANCE


def test_results_carry_no_autograd_graph(noisy_model):
    """The API runs without autograd: a graph kept alive would hold every activation of the picture."""
    content, style = make_image(1, 96, 96), make_image(1, 64, 64, seed=2)
    features = extract_features(noisy_model, content)
    for out in (transfer(noisy_model, content, style), transfer(noisy_model, content, style, strength=0.5, tile_size=64),
                generate(noisy_model, features, encode_style(noisy_model, style)), features.tensor):
        assert not out.requires_grad and out.grad_fn is None


def test_generate_from_features_streams_the_body_of_a_large_picture(noisy_model, monkeypatch):
    """Extract Features → Generate with tiles: the code is an input, but above STREAM_ABOVE_PIXELS the
    body's maps are gathered per tile (statistics in passes); the picture is the same."""
    from stylefusion.networks import generator

    model = _trained_like(noisy_model)
    features = extract_features(model, make_image(1, H, W))
    style = encode_style(model, make_image(1, 80, 80, seed=2))
    whole = generate(model, features, style, strength=0.6, seed=2, tile_size=TILE)
    passes = []
    streamed_stats = generator.Generator._streamed_stats
    monkeypatch.setattr(generator, "STREAM_ABOVE_PIXELS", 0)
    monkeypatch.setattr(generator.Generator, "_streamed_stats", lambda *a: passes.append(1) or streamed_stats(*a))
    streamed = generate(model, features, style, strength=0.6, seed=2, tile_size=TILE)
    assert passes and (streamed - whole).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("height,width", [(160, 224), (148, 92), (12, 12), (512, 388)])
def test_streamed_noise_is_the_same_noise_drawn_band_by_band(height, width, monkeypatch):
    """A streamed render draws G's noise as its tiles need rows; the values are those of the whole maps
    (torch's normals come in blocks of 16), in raster order, out of order and for maps under 16 values."""
    from stylefusion.networks import generator as G

    monkeypatch.setattr(G, "NOISE_CHUNK", 64)
    strides = [4, 4, 2]
    for seed in (0, 7):
        whole = G.make_noise(seed, height, width, strides)
        streams = G.noise_streams(seed, height, width, strides)
        for full, stream in zip(whole, streams):
            h, w = full.shape[-2:]
            for top in range(0, h, 7):
                for left in range(0, w, 9):
                    t, b, r = max(0, top - 2), min(h, top + 11), min(w, left + 13)
                    assert torch.equal(G.noise_window(stream, t, left, b, r), full[..., t:b, left:r])
            assert torch.equal(G.noise_window(stream, 0, 0, h, w), full)  # asked again from the top
            assert stream.buffer.numel() == h * w  # only what the last window needed
