"""``stylefusion teach-style``: teach the style encoder E_s the style vectors G needs.

The probe (``probe.py --model M --free style``) showed where a model's style is lost: fitting the
style vector s G is given, E_c and G untouched, lifts the judge's style similarity far above the
model's own pictures. G can draw the painting; E_s does not ask for it. This stage closes that gap
in two steps, E_c and G untouched:

1. **Fit.** For every training painting, s is fitted by Adam through G (``probe.fit_through_model``)
   so that G's picture of a few training photos has the painting's VGG16 statistics (the probe's
   mean/std loss at relu1_1…relu4_1, a light content term at relu4_1). The painting's *target* is
   the mean of its fitted vectors over the photos: one vector that carries the painting into any
   photo. The targets are saved after every batch of paintings (``targets.safetensors``), so a
   killed run goes on where it stopped when the same command is run again.
2. **Regress.** E_s's MLP (``VGGStyleEncoder.from_statistics``; its VGG16 trunk stays frozen) is
   fitted to give each painting's target from the statistics of random crops of it, and to keep
   giving the photos their own vectors (what strength 0 renders). The regression error on paintings
   it was not fitted on is reported first (a 10 % split by file name), then E_s is fitted on all.

Everything here is the training loss's own network (HED's VGG16); the independent judge never
enters. The result is a run folder with one checkpoint, exported like any run
(``stylefusion export``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..networks.model import StyleFusionModel
from ..storage.weights import read_safetensors, write_safetensors
from .checkpoint import save_checkpoint
from .dataset import ImageFolder, is_held_out, spread, step_generator
from .probe import Candidate, _square, fit_through_model, load_network
from .warm_start import crop_views, fit_encoder, regression_error

TARGETS = "targets.safetensors"
#: The fit's loss: the probe's VGG16 mean/std at relu1_1…relu4_1, content at relu4_1 (light).
FIT_LOSS = dict(network="hed_vgg16", statistic="meanstd", style_taps=(0, 1, 2, 3), content_tap=3)


@dataclass
class TeachSettings:
    photos: int = 3
    """Training photos each painting's vector is fitted over (the same ones for every painting)."""
    steps: int = 40
    """Adam steps of each fit."""
    lr: float = 0.1
    size: int = 128
    """Short side of the photos in the fit (the fitted vector is then used at any size)."""
    painting_size: int = 256
    """Side of the painting's centred square whose statistics the fit matches."""
    content_weight: float = 0.1
    batch: int = 16
    """Paintings fitted together (one batch through G and VGG16)."""
    views: int = 8
    """Random crops per painting (and per photo) in the regression."""
    anchor_photos: int = 64
    """Training photos whose own vectors E_s keeps giving."""
    regression_steps: int = 3000
    seed: int = 0

    def __post_init__(self):
        for name in ("photos", "steps", "size", "painting_size", "batch", "views", "regression_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"--{name.replace('_', '-')}: must be at least 1, got {getattr(self, name)}")
        if self.size < 64:
            raise ValueError(f"--size: {self.size} px is too small for G; use at least 64")

    def fit_record(self) -> dict:
        """The settings a saved target depends on (a resumed fit must use the same ones)."""
        return {k: v for k, v in asdict(self).items() if k in ("photos", "steps", "lr", "size", "painting_size",
                                                               "content_weight", "seed")}


def _photo_at(img: torch.Tensor, size: int) -> torch.Tensor:
    """A uint8 [3,H,W] photo as [1,3,h,w] in 0..1, short side ``size``, sides multiples of 8 (G's stride)."""
    x = img.float()[None] / 255
    scale = size / min(x.shape[-2:])
    h, w = (max(8, round(s * scale) // 8 * 8) for s in x.shape[-2:])
    return F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def _load_targets(path: str, record: dict) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        return {}
    tensors, metadata = read_safetensors(path)
    saved = json.loads(metadata.get("fit", "{}"))
    if saved != record:
        changed = ", ".join(f"{k} {saved.get(k)} → {v}" for k, v in record.items() if saved.get(k) != v)
        raise ValueError(f"{path}: its targets were fitted with other settings ({changed}); use those settings, "
                         "or another --out folder")
    return tensors


def fitted_targets(model: StyleFusionModel, content: ImageFolder, style: ImageFolder, settings: TeachSettings,
                   path: str, log=print) -> dict[str, torch.Tensor]:
    """Each painting's target vector (file name → [D]), fitted over ``settings.photos`` photos; saved to
    ``path`` after every batch and reused from it (see the module doc)."""
    record = settings.fit_record()
    targets = _load_targets(path, record)
    candidate = Candidate(**FIT_LOSS, content_weight=settings.content_weight)
    net = load_network(candidate.network, candidate.depth)
    photos = [_photo_at(content.image(content.paths.index(p)), settings.size)
              for p in spread(content.paths, settings.photos)]
    todo = [i for i, p in enumerate(style.paths) if os.path.basename(p) not in targets]
    if targets:
        log(f"[teach-style] {len(targets)} targets already fitted in {path}; {len(todo)} to go")
    t0 = time.perf_counter()
    for start in range(0, len(todo), settings.batch):
        chosen = [i for i in todo[start:start + settings.batch] if style.image(i) is not None]
        if not chosen:
            continue
        paintings = torch.cat([_square(style.image(i).float()[None] / 255, settings.painting_size) for i in chosen])
        total = 0
        for photo in photos:
            _, (vectors,), _ = fit_through_model(model, net, candidate, photo, paintings, "style", settings.steps,
                                                 settings.lr, settings.seed)
            total = total + vectors
        for i, vector in zip(chosen, total / len(photos)):
            targets[os.path.basename(style.paths[i])] = vector.clone()
        write_safetensors(path, targets, {"fit": json.dumps(record)})
        done = start + len(chosen)
        log(f"[teach-style] fitted {done}/{len(todo)} paintings, {time.perf_counter() - t0:.0f} s")
    return targets


@torch.no_grad()
def _views_of(encoder, folder: ImageFolder, indices: list[int], views: int, seed: int) -> tuple[torch.Tensor, list[int]]:
    """Statistics E_s reads of ``views`` random crops of each image → ([N·views, K], owner index per row)."""
    stats, owners = [], []
    for i, crops in crop_views(folder, indices, views, encoder.image_size, step_generator(seed, -2, 0)):
        stats.append(encoder.describe(crops))
        owners += [i] * views
    return torch.cat(stats), owners


def teach(model: StyleFusionModel, content: ImageFolder, style: ImageFolder, targets: dict[str, torch.Tensor],
          settings: TeachSettings, log=print) -> dict:
    """Fit E_s's MLP to the targets (and the photos' own vectors); the regression errors, relative to
    the spread of the vectors (0 = exact, 1 = knows nothing)."""
    encoder = model.style_encoder
    names = [os.path.basename(p) for p in style.paths]
    taught = [i for i, n in enumerate(names) if n in targets]
    paint_stats, owners = _views_of(encoder, style, taught, settings.views, settings.seed)
    paint_vectors = torch.stack([targets[names[i]] for i in owners])
    anchors = [content.paths.index(p) for p in spread(content.paths, min(settings.anchor_photos, len(content)))]
    photo_stats, _ = _views_of(encoder, content, anchors, max(1, settings.views // 4), settings.seed + 1)
    with torch.no_grad():
        photo_vectors = encoder.from_statistics(photo_stats).float()
    # Its own split (another hash than the training holdout's, which already removed its share).
    validation = torch.tensor([is_held_out(f"{names[i]}.validation", 0.1) for i in owners])
    start = {k: v.clone() for k, v in encoder.to_vector.state_dict().items()}

    def run(rows: torch.Tensor) -> dict:
        encoder.to_vector.load_state_dict(start)
        stats = torch.cat([paint_stats[rows], photo_stats])
        vectors = torch.cat([paint_vectors[rows], photo_vectors])
        return fit_encoder(encoder, stats, vectors, settings.regression_steps, settings.seed)

    with torch.enable_grad():
        held = run(~validation)
        with torch.no_grad():
            variance = paint_vectors.var(0, correction=0).sum()
            error = lambda rows: float(regression_error(encoder, paint_stats[rows], paint_vectors[rows], variance))  # noqa: E731
            report = {"paintings": len(taught), "views": len(owners), "anchor_views": len(photo_stats),
                      "validation_paintings": len({o for o, v in zip(owners, validation) if v}),
                      "error_fitted_paintings": round(error(~validation), 4),
                      "error_validation_paintings": round(error(validation), 4) if validation.any() else None}
        log(f"[teach-style] regression on {report['paintings'] - report['validation_paintings']} paintings: error "
            f"{report['error_fitted_paintings']} on them, {report['error_validation_paintings']} on "
            f"{report['validation_paintings']} it did not see")
        final = run(torch.ones_like(validation))
    report["error_all"] = final["error_after"]
    report["error_before"] = held["error_before"]
    return report


def teach_style(source_run: str, content_dir: str, style_dir: str, out_dir: str, settings: TeachSettings,
                log=print) -> str:
    """The whole stage (module doc): ``source_run``'s model with E_s taught → a checkpoint in ``out_dir``."""
    from .config import TrainingConfig
    from .export import load_run_model

    model, state = load_run_model(source_run)
    if model.config.style_features != "vgg16":
        raise ValueError(f"{source_run}: its style encoder is {model.config.style_features!r}; teach-style fits the "
                         "MLP of a 'vgg16' style encoder (train a run with style_features 'vgg16' first)")
    config = TrainingConfig.from_dict(state["config"])
    model.eval().requires_grad_(False)
    model.fused = False  # the plain formulas: the ones autograd runs through
    content = ImageFolder(content_dir, config.holdout_fraction)
    style = ImageFolder(style_dir, config.holdout_fraction)
    os.makedirs(out_dir, exist_ok=True)
    targets = fitted_targets(model, content, style, settings, os.path.join(out_dir, TARGETS), log)
    model.style_encoder.to_vector.requires_grad_(True)
    report = teach(model, content, style, targets, settings, log)
    model.style_encoder.requires_grad_(False)
    model.weights_changed()
    record = {"settings": asdict(settings), "source": os.path.abspath(source_run), "source_step": state.get("step"),
              **report}
    save_checkpoint(out_dir, state.get("step", 0), {"ema": model}, {},
                    {k: v for k, v in state.items() if k not in ("step", "optimizers")} | {"style_encoder_taught": record},
                    keep=1)
    for name in ("data.json", "stats.jsonl"):  # the source run's records, for the model card
        src = os.path.join(source_run, name)
        if os.path.isfile(src) and not os.path.isfile(os.path.join(out_dir, name)):
            with open(src, "rb") as fh, open(os.path.join(out_dir, name), "wb") as out:
                out.write(fh.read())
    log(f"[teach-style] wrote {out_dir}: E_s taught {report['paintings']} paintings' fitted vectors")
    return out_dir
