"""Unpaired image folders (content photos and style images, read recursively) and the batches of each step.

Files ending in .jpg/.jpeg/.png/.webp (any case) are used, decoded by the rules every reader shares
(``storage/images.py``: EXIF orientation applied, 16-bit images scaled to 8-bit); files that cannot be
decoded are skipped and counted, never fatal. A step's batch is a pure function of (seed, step, rank)
(``StepBatches``), so worker processes can build steps ahead in any order (``prefetch``) and a resumed
run draws exactly the batches it would have drawn.
"""

from __future__ import annotations

import hashlib
import os
import signal
import warnings
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..storage.images import UNREADABLE, load_rgb
from ..storage.paths import walk_files

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


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


@dataclass
class ImageFolder:
    """All readable images under ``root`` (minus the held-out ones); corrupt files are counted in ``skipped``.

    With ``cache``, decoded images are kept in memory (in each process that reads them).
    """

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

    def batch(self, size: int, crop: int, scale: tuple[float, float], gen: torch.Generator,
              views: int = 1) -> torch.Tensor | list[torch.Tensor]:
        """[size,3,crop,crop] float in 0..1: random resized crops with random horizontal flips. With
        ``views`` > 1, a list of that many such batches: independent crops of the same images."""
        out: list[list[torch.Tensor]] = []
        attempts = 0
        while len(out) < size:
            attempts += 1
            if attempts > size * 20:
                raise RuntimeError(f"{self.root}: too many unreadable images ({len(self.skipped)} skipped)")
            img = self.image(self.pick(gen))
            if img is None:
                continue
            out.append([random_resized_crop(img, crop, scale, gen) for _ in range(views)])
        batches = [torch.stack(crops) for crops in zip(*out)]
        return batches[0] if views == 1 else batches


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


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The random stream of one step of one process: its crops, flips and noise."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2 ** 63))


@dataclass
class StepBatch:
    """The data of one training step: ``content`` and ``style`` crops ``[B,3,crop,crop]`` in 0..1, another
    crop of each style image (``reference``: what the style-conditioned D compares with), and the
    state of the step's generator after drawing them (the step's noise is drawn on from there)."""

    step: int
    content: torch.Tensor
    style: torch.Tensor
    reference: torch.Tensor
    generator_state: torch.Tensor

    def generator(self) -> torch.Generator:
        """The step's generator, where drawing the crops left it."""
        gen = torch.Generator()
        gen.set_state(self.generator_state)
        return gen


class StepBatches(Dataset):
    """Item ``step``: that step's batch, drawn from ``step_generator(seed, step, rank)`` and nothing else.

    Being a pure function of the step, any process can build any step: worker processes build them
    ahead in order (``prefetch``), and a resumed run gets the batches an uninterrupted one got.
    """

    def __init__(self, content: ImageFolder, style: ImageFolder, batch_size: int, crop_size: int,
                 crop_scale: tuple[float, float], seed: int, rank: int):
        self.content, self.style = content, style
        self.batch_size, self.crop_size, self.crop_scale = batch_size, crop_size, crop_scale
        self.seed, self.rank = seed, rank

    def __getitem__(self, step: int) -> StepBatch:
        gen = step_generator(self.seed, step, self.rank)
        content = self.content.batch(self.batch_size, self.crop_size, self.crop_scale, gen)
        style, reference = self.style.batch(self.batch_size, self.crop_size, self.crop_scale, gen, views=2)
        return StepBatch(step, content, style, reference, gen.get_state())


def prefetch(batches: StepBatches, steps: range, workers: int) -> Iterator[StepBatch]:
    """``batches[step]`` for each of ``steps`` in order, built ahead by ``workers`` processes (0: built here,
    when asked for). Each worker decodes on its own, with its own image cache; dropping the iterator
    stops them."""
    workers = min(workers, len(steps))
    if workers <= 0:
        return (batches[step] for step in steps)
    return iter(DataLoader(batches, batch_size=None, sampler=steps, num_workers=workers, prefetch_factor=2,
                           worker_init_fn=_leave_stopping_to_the_trainer))


def _leave_stopping_to_the_trainer(worker_id: int) -> None:
    """Workers ignore SIGINT and SIGTERM: Ctrl-C, or a service manager stopping the whole process
    group, reaches the trainer too, which finishes its step, writes a checkpoint and then stops
    them. Had they died first, the trainer would fail mid-step and lose the steps since the last
    checkpoint. (A worker still ends when the trainer does: the loader watches its parent.)"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
