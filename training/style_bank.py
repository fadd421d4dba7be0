"""The style bank: what E_s reads of every training painting, computed once per run.

E_s describes a painting by statistics of a frozen VGG16 (``models/style_encoder.py``) — the same
network the style loss measures with — so both the style vector's input and the style loss's
target of a painting are fixed numbers. The bank computes them for ``views`` random views of each
painting (square crops of 50–100% of its area, flipped at random, at ``StyleEncoder.image_size``,
the size E_s sees a whole painting at) and keeps them in ``style_bank.safetensors`` in the run
folder, so a resumed run does not recompute them. A training step then costs no VGG pass on its
style images: it draws a painting and one of its views.
"""

from __future__ import annotations

import hashlib
import json
import os

import torch

from ..models.style_encoder import StyleEncoder
from ..models.weights import read_safetensors, write_safetensors
from .dataset import ImageFolder, random_resized_crop

BANK_NAME = "style_bank.safetensors"
VIEW_SCALE = (0.5, 1.0)


class StyleBank:
    """``stats`` [N, views, 2·ΣC + 6]: E_s's input for view v of painting n (``ImageFolder`` order)."""

    def __init__(self, stats: torch.Tensor):
        self.stats = stats

    @classmethod
    def build(cls, folder: ImageFolder, encoder: StyleEncoder, views: int, seed: int, batch: int = 8) -> "StyleBank":
        gen = torch.Generator().manual_seed(seed + 9_973)
        size = encoder.image_size
        rows = []
        with torch.no_grad():
            for index in range(len(folder)):
                img = folder.image(index)
                if img is None:  # unreadable since the scan: a copy of the neutral grey statistics
                    img = torch.full((3, size, size), 128, dtype=torch.uint8)
                crops = torch.stack([random_resized_crop(img, size, VIEW_SCALE, gen) for _ in range(views)])
                stats = [encoder.statistics(encoder.features(part), part) for part in crops.split(batch)]
                rows.append(torch.cat(stats))
        return cls(torch.stack(rows))

    @classmethod
    def load_or_build(cls, run_dir: str, folder: ImageFolder, encoder: StyleEncoder, views: int, seed: int) -> "StyleBank":
        """The run's bank if it was made for these paintings and settings, else a new one (saved)."""
        key = _key(folder, encoder, views, seed)
        path = os.path.join(run_dir, BANK_NAME)
        if os.path.isfile(path):
            tensors, meta = read_safetensors(path)
            if meta.get("key") == key:
                return cls(tensors["stats"])
        bank = cls.build(folder, encoder, views, seed)
        write_safetensors(path, {"stats": bank.stats}, {"key": key})
        return bank

    def draw(self, count: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(painting indices [count], their statistics [count, 2·ΣC + 6]) for one step."""
        n, views = self.stats.shape[:2]
        paintings = torch.randint(n, (count,), generator=gen)
        view = torch.randint(views, (count,), generator=gen)
        return paintings, self.stats[paintings, view]


def _key(folder: ImageFolder, encoder: StyleEncoder, views: int, seed: int) -> str:
    """Identity of a bank: the painting files, the views, and E_s's frozen VGG16 weights."""
    digest = hashlib.sha256(json.dumps([[os.path.abspath(p) for p in folder.paths], views, seed,
                                        encoder.image_size]).encode())
    for t in encoder.features.state_dict().values():
        digest.update(t.detach().cpu().contiguous().reshape(-1)[:64].numpy().tobytes())
    return digest.hexdigest()[:16]


def painting_crops(folder: ImageFolder, paintings: torch.Tensor, size: int, scale: tuple[float, float],
                   gen: torch.Generator) -> torch.Tensor:
    """[B,3,size,size]: one random resized crop of each painting in ``paintings`` (D's real images)."""
    crops = []
    for index in paintings.tolist():
        img = folder.image(index)
        if img is None:
            img = torch.full((3, size, size), 128, dtype=torch.uint8)
        crops.append(random_resized_crop(img, size, scale, gen))
    return torch.stack(crops)
