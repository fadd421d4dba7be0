"""What the networks cost to run, counted rather than timed: multiply-accumulates (MACs) of E_c, G and E_s.

``stylefusion bench`` sets them against the machine's conv throughput; ``stylefusion export`` writes
GFLOPs per megapixel into the model card. One FLOP count is two FLOPs per MAC.
"""

from __future__ import annotations

import torch

from .layers import mac_count
from .model import StyleFusionModel

#: Side of the square image the model card's per-megapixel figure is counted on.
PROBE_SIDE = 256


def model_macs(model: StyleFusionModel, height: int, width: int) -> dict[str, float]:
    """MACs of E_c and G for one ``height``×``width`` output image, and of E_s for one style image.

    E_c and G are convolutions over the image plus G's constant mapping MLP, so MACs = a·pixels + c
    exactly; two small probes give a and c without running the model at full size. E_s resizes every
    style image to about ``style_image_size``², so its cost does not depend on the picture.
    """

    def counts(side: int) -> tuple[int, int]:
        x = torch.zeros(1, 3, side, side)
        with torch.no_grad():
            code = model.feature_extractor(x)
        return (mac_count(model.feature_extractor, x),
                mac_count(model.generator, code, torch.zeros(1, model.config.style_dim)))

    (e1, g1), (e2, g2) = counts(64), counts(128)
    area1, area2 = 64 * 64, 128 * 128
    area = (height + (-height) % 8) * (width + (-width) % 8)  # E_c runs on the image padded to 8 px

    def extrapolate(v1, v2):
        return v1 + (v2 - v1) / (area2 - area1) * (area - area1)

    side = model.config.style_image_size
    return {"feature_extractor": extrapolate(e1, e2), "generator": extrapolate(g1, g2),
            "style_encoder": float(mac_count(model.style_encoder, torch.zeros(1, 3, side, side)))}


def gflops_per_megapixel(model: StyleFusionModel) -> float:
    """E_c + G GFLOPs per megapixel of output (full-resolution rendering), counted on a 256² image."""
    macs = model_macs(model, PROBE_SIDE, PROBE_SIDE)
    return 2 * (macs["feature_extractor"] + macs["generator"]) / (PROBE_SIDE * PROBE_SIDE) * 1e6 / 1e9
