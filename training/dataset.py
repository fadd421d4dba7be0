"""Unpaired image folders: content photos and style images, read recursively.

Files ending in .jpg/.jpeg/.png/.webp (any case) are used; files that cannot be decoded are
skipped and counted, never fatal. Sampling is a pure function of a ``torch.Generator`` so a
resumed run draws exactly the batches it would have drawn.
"""

from __future__ import annotations

import hashlib
import os
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..storage.paths import walk_files

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: What Pillow raises for a file that is not a usable picture: it is skipped and counted, never fatal.
UNREADABLE = (OSError, ValueError, UnidentifiedImageError, SyntaxError, Image.DecompressionBombError,
              struct.error, IndexError, TypeError)


def list_images(root: str) -> list[str]:
    """Image files under ``root`` (symlinked folders followed, each real folder once; regular files only)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: image folder not found")
    return [p for p in walk_files(root) if p.lower().endswith(IMAGE_SUFFIXES)]


def spread(paths: list[str], n: int) -> list[str]:
    """``n`` of ``paths`` spread evenly over the list (all of them if there are no more than ``n``)."""
    if n <= 0 or len(paths) <= n:
        return list(paths)
    step = len(paths) / n
    return [paths[int(i * step)] for i in range(n)]


def is_held_out(path: str, fraction: float) -> bool:
    """Deterministic split by a hash of the file name (stable across machines and runs)."""
    if fraction <= 0:
        return False
    h = int(hashlib.sha1(os.path.basename(path).encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


def load_rgb(path: str) -> torch.Tensor:
    """uint8 [3,H,W]; raises OSError/ValueError for unreadable files (a decompression bomb included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as img:
                img.load()
                rgb = img.convert("RGB")
        except (Image.DecompressionBombError, SyntaxError, struct.error, IndexError, TypeError) as exc:
            raise ValueError(f"{path}: unreadable image ({exc})") from None
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).contiguous()


@dataclass
class ImageFolder:
    """All readable images under ``root`` (minus the held-out ones); corrupt files are counted in ``skipped``."""

    root: str
    holdout_fraction: float = 0.0
    cache: bool = True
    balance: str = "uniform"
    paths: list[str] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for path in list_images(self.root):
            (self.held_out if is_held_out(path, self.holdout_fraction) else self.paths).append(path)
        # Verify every file once up front, so a corrupt one is reported, not hit mid-run.
        good = []
        for path in self.paths:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with Image.open(path) as img:
                        img.verify()
                good.append(path)
            except UNREADABLE:
                self.skipped.append(path)
        self.paths = good
        if not self.paths:
            raise ValueError(f"{self.root}: no readable training images (jpg, png, webp) found")
        folders = [os.path.dirname(p) for p in self.paths]
        self._groups = sorted(set(folders))
        self._group_of = [self._groups.index(f) for f in folders]

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> torch.Tensor | None:
        path = self.paths[index]
        if path in self._cache:
            return self._cache[path]
        try:
            img = load_rgb(path)
        except UNREADABLE:
            if path not in self.skipped:  # counted once, however often sampling draws it
                self.skipped.append(path)
            return None
        if self.cache:
            self._cache[path] = img
        return img

    def pick(self, gen: torch.Generator) -> int:
        if self.balance == "by_folder" and len(self._groups) > 1:
            group = int(torch.randint(len(self._groups), (1,), generator=gen))
            members = [i for i, g in enumerate(self._group_of) if g == group]
            return members[int(torch.randint(len(members), (1,), generator=gen))]
        return int(torch.randint(len(self.paths), (1,), generator=gen))

    def batch(self, size: int, crop: int, scale: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
        """[size,3,crop,crop] float in 0..1: random resized crops with random horizontal flips."""
        out = []
        attempts = 0
        while len(out) < size:
            attempts += 1
            if attempts > size * 20:
                raise RuntimeError(f"{self.root}: too many unreadable images ({len(self.skipped)} skipped)")
            img = self.image(self.pick(gen))
            if img is None:
                continue
            out.append(random_resized_crop(img, crop, scale, gen))
        return torch.stack(out)


def random_resized_crop(img: torch.Tensor, size: int, scale: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    _, h, w = img.shape
    r = torch.rand(4, generator=gen).tolist()
    area = (scale[0] + (scale[1] - scale[0]) * r[0]) * h * w
    side = int(min(h, w, max(16, area ** 0.5)))
    top = int(r[1] * (h - side + 1))
    left = int(r[2] * (w - side + 1))
    patch = img[:, top:top + side, left:left + side].float().div_(255)[None]
    patch = F.interpolate(patch, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)[0]
    if r[3] < 0.5:
        patch = patch.flip(-1)
    return patch.clamp_(0, 1)
