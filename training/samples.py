"""Sample grids: a header row of style images, then one row per photo with its stylisations."""

from __future__ import annotations


import torch
from PIL import Image

from ..models.api import transfer
from ..networks.model import StyleFusionModel
from ..storage.images import to_pil
from ..storage.weights import atomic_path


def grid_image(rows: list[list[torch.Tensor | None]], cell: int) -> Image.Image:
    """Paste [3,h,w] tensors into a grid of ``cell``-px squares (None = blank)."""
    sheet = Image.new("RGB", (cell * max(len(r) for r in rows), cell * len(rows)), (255, 255, 255))
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            if img is not None:
                pil = to_pil(img.permute(1, 2, 0))
                pil.thumbnail((cell, cell))
                sheet.paste(pil, (j * cell + (cell - pil.width) // 2, i * cell + (cell - pil.height) // 2))
    return sheet


@torch.no_grad()
def stylise_grid(model: StyleFusionModel, contents: list[torch.Tensor], styles: list[torch.Tensor], strength=1.0, seed=0):
    rows: list[list[torch.Tensor | None]] = [[None] + [s for s in styles]]
    for c in contents:
        row: list[torch.Tensor | None] = [c]
        for s in styles:
            row.append(transfer(model, c[None], s[None], strength=strength, seed=seed)[0].cpu())
        rows.append(row)
    return rows


def save_sample_grid(model: StyleFusionModel, contents: torch.Tensor, styles: torch.Tensor, path: str, cell: int = 192) -> None:
    was_training = model.training
    model.eval()
    rows = stylise_grid(model, list(contents), list(styles))
    model.train(was_training)
    with atomic_path(path) as tmp:
        grid_image(rows, cell).save(tmp, format="PNG")


CURVE_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]


def curves_image(series: dict[str, list[tuple[int, float]]], title: str, size=(720, 360), smooth: int = 10) -> Image.Image:
    """A line chart of named (step, value) series (moving average over ``smooth`` points), with a legend."""
    from PIL import ImageDraw

    w, h = size
    left, right, top, bottom = 56, 16, 28, 40
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    smoothed = {}
    for name, points in series.items():
        if not points:
            continue
        values = [v for _, v in points]
        avg = [sum(values[max(0, i - smooth + 1):i + 1]) / len(values[max(0, i - smooth + 1):i + 1]) for i in range(len(values))]
        smoothed[name] = [(s, a) for (s, _), a in zip(points, avg)]
    draw.text((left, 6), title, fill=(0, 0, 0))
    if not smoothed:
        return img
    steps = [s for pts in smoothed.values() for s, _ in pts]
    vals = [v for pts in smoothed.values() for _, v in pts]
    s0, s1 = min(steps), max(max(steps), min(steps) + 1)
    v0, v1 = min(vals), max(vals)
    if v1 - v0 < 1e-9:
        v0, v1 = v0 - 0.5, v1 + 0.5
    x = lambda s: left + (s - s0) / (s1 - s0) * (w - left - right)
    y = lambda v: h - bottom - (v - v0) / (v1 - v0) * (h - top - bottom)
    draw.rectangle([left, top, w - right, h - bottom], outline=(160, 160, 160))
    for frac in (0, 0.5, 1):
        v = v0 + frac * (v1 - v0)
        draw.text((4, y(v) - 6), f"{v:.3g}", fill=(80, 80, 80))
        s = s0 + frac * (s1 - s0)
        draw.text((x(s) - 12, h - bottom + 6), f"{int(s)}", fill=(80, 80, 80))
    draw.text(((w - 40) // 2, h - 16), "step", fill=(80, 80, 80))
    for i, (name, pts) in enumerate(smoothed.items()):
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        draw.line([(x(s), y(v)) for s, v in pts], fill=colour, width=2)
        draw.text((left + 8 + 150 * i, top + 4), name, fill=colour)
    return img
