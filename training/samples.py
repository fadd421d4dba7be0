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
