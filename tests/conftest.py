"""Shared fixtures: tiny random models in temp dirs, small images, an isolated models folder.

No test touches the network: HF_HUB_OFFLINE is set unless a test points HF_ENDPOINT at its own
local server.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))

from stylefusion.models import TINY_CONFIG, StyleFusionModel  # noqa: E402
from stylefusion.storage import loading as sources  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_models_dir(tmp_path_factory, monkeypatch):
    """Every test gets its own STYLEFUSION_MODELS_DIR, judge cache and an empty model cache."""
    root = tmp_path_factory.mktemp("sf-models")
    monkeypatch.setenv("STYLEFUSION_MODELS_DIR", str(root))
    monkeypatch.setenv("STYLEFUSION_JUDGE_CACHE", str(tmp_path_factory.mktemp("sf-judge-cache")))
    sources.clear_cache()
    yield root
    sources.clear_cache()


def trained_like(model: StyleFusionModel, seed: int = 0) -> StyleFusionModel:
    """Give a fresh model the weights a trained one has non-zero: a fresh G starts as an identity-like
    recolouring (zero residual, near-zero style parameters, no noise), which hides bugs in tests."""
    g = torch.Generator().manual_seed(seed)
    gen = model.generator
    with torch.no_grad():
        for p in list(gen.to_rgb.parameters()) + [gen.to_params.weight]:
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
        for conv in gen.mod_convs:
            conv.noise_strength.fill_(0.3)
    model.weights_changed()
    return model


@pytest.fixture
def tiny_model() -> StyleFusionModel:
    torch.manual_seed(0)
    return trained_like(StyleFusionModel(TINY_CONFIG))


@pytest.fixture
def tiny_model_dir(tmp_path, tiny_model) -> str:
    return tiny_model.save_pretrained(tmp_path / "tiny-model")


def make_image(batch: int = 1, height: int = 72, width: int = 96, seed: int = 0) -> torch.Tensor:
    """A smooth, structured test picture [B,3,H,W] in 0..1 (gradients + a disc), not noise."""
    g = torch.Generator().manual_seed(seed)
    ys = torch.linspace(0, 1, height)[:, None].expand(height, width)
    xs = torch.linspace(0, 1, width)[None, :].expand(height, width)
    imgs = []
    for _ in range(batch):
        phase = torch.rand(3, generator=g)
        disc = (((ys - 0.5) ** 2 + (xs - phase[0]) ** 2) < 0.08).float()
        imgs.append(torch.stack([xs * phase[1] + disc * 0.5, ys * phase[2], (xs + ys) / 2 * (1 - disc)]).clamp(0, 1))
    return torch.stack(imgs)


@pytest.fixture
def image_factory():
    return make_image
