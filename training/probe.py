"""``stylefusion probe``: can a candidate style loss stylise a picture at all?

The pixels of a photo are optimised directly (Adam, from the photo) against a candidate loss —
style statistics of a frozen network Φ at some taps + a content term at one deep tap — and the
results are scored with the independent judge (``judge.py``). A loss that cannot stylise a
picture by direct optimisation cannot teach the generator either, so decide with this before
spending hours of training on a loss.

Candidate = network (``hed_vgg16`` or ``efficientnet_lite0``, see ``perceptual.py``) × style
statistic × style taps × content tap:

* ``meanstd`` — per-channel mean and std (AdaIN's style loss, Huang & Belongie 2017: the statistic
  of training's style term, ``losses.py``);
* ``gram`` — Gram matrices (Gatys et al. 2016: training's Gram term);
* ``swd`` — sliced-Wasserstein feature matching: project the features on random directions, sort,
  match the sorted values (Heitz et al., CVPR 2021); new directions every step.

Every term is relative to its target's magnitude (scale-free across networks and taps), so the
weights mean the same thing for every candidate. The probe never trains anything: the judge
scores its pictures but nothing here is fed back into a model.

With a model (``--model``), what is optimised is not the pixels but what the model lets a style
say (``--free``): ``style``, the style vector s G is given (started from E_s's vector of the
painting), or ``style_params``, every per-layer parameter G's mapping makes of s (γ, β, palette,
modulations; started from E_s's). E_c and G stay as they are. This asks where a model's style is
lost: if the judge scores the fitted pictures far above the model's own (listed beside them as
"model as is"), G can draw the style and the style encoder does not ask for it; if not, G cannot.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from ..networks.generator import make_noise
from ..networks.layers import mean_std, relative_error
from ..storage.weights import atomic_path
from .losses import gram
from .samples import grid_image

NETWORKS = ("hed_vgg16", "efficientnet_lite0")
#: What the probe optimises: the photo's pixels, or (with a model) its style vector or G's per-layer parameters.
FREE = ("pixels", "style", "style_params")
STATISTICS = ("meanstd", "gram", "swd")
#: Names of the taps of each network, shallow to deep (the indices the flags take).
TAP_NAMES = {"hed_vgg16": ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
             "efficientnet_lite0": ("stride2", "stride4", "stride8", "stride16")}


@dataclass
class Candidate:
    """One candidate style loss: style statistic at ``style_taps`` + ``content_weight`` × content at ``content_tap``."""

    network: str = "hed_vgg16"
    statistic: str = "meanstd"
    style_taps: tuple[int, ...] = (0, 1, 2, 3)
    content_tap: int = 3
    content_weight: float = 1.0

    def __post_init__(self):
        if self.network not in NETWORKS:
            raise ValueError(f"--network: unknown {self.network!r}; use one of {', '.join(NETWORKS)}")
        if self.statistic not in STATISTICS:
            raise ValueError(f"--statistic: unknown {self.statistic!r}; use one of {', '.join(STATISTICS)}")
        self.style_taps = tuple(sorted(set(int(t) for t in self.style_taps)))
        names = TAP_NAMES[self.network]
        for tap in self.style_taps + (int(self.content_tap),):
            if not 0 <= tap < len(names):
                raise ValueError(f"taps: {tap} is not a tap of {self.network} (0..{len(names) - 1} = {', '.join(names)})")
        if not self.style_taps:
            raise ValueError("--style-taps: give at least one tap")

    @property
    def label(self) -> str:
        names = TAP_NAMES[self.network]
        taps = "+".join(names[t] for t in self.style_taps)
        return f"{self.network} {self.statistic} {taps}, content {names[self.content_tap]} ×{self.content_weight:g}"

    @property
    def depth(self) -> int:
        """Taps the network must compute (the deepest one used, plus one)."""
        return max(self.style_taps + (self.content_tap,)) + 1


def load_network(name: str, depth: int) -> torch.nn.Module:
    """Φ truncated after its ``depth``-th tap (a shallower candidate costs less per step), frozen."""
    from . import perceptual as P

    if name == "hed_vgg16":
        from ..networks.style_encoder import VGG16_TAPS

        net = P.load_hed_vgg16(VGG16_TAPS[:depth])
    else:
        net = P.load_lite0(P.LITE0_TAPS[:depth])
    return net.eval().requires_grad_(False)


def sliced_wasserstein(f_out: torch.Tensor, f_style: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample sliced-Wasserstein distance between the feature distributions of [B,C,h,w] and
    [B,C,h',w'], over C random unit directions, relative to the style's second moment → [B]."""
    b, c = f_out.shape[:2]
    directions = torch.randn(c, c, generator=generator).to(f_out)
    directions = directions / directions.norm(dim=0, keepdim=True)
    proj_o = torch.einsum("bcn,cd->bdn", f_out.flatten(2), directions).sort(dim=-1).values
    proj_s = torch.einsum("bcn,cd->bdn", f_style.flatten(2), directions).sort(dim=-1).values
    if proj_s.shape[-1] != proj_o.shape[-1]:  # different sizes: compare the same quantiles
        proj_s = F.interpolate(proj_s, size=proj_o.shape[-1], mode="linear", align_corners=True)
    return (proj_o - proj_s).square().mean(dim=(1, 2)) / proj_s.square().mean(dim=(1, 2)).clamp_min(1e-12)


def style_term(candidate: Candidate, f_out: list[torch.Tensor], f_style: list[torch.Tensor],
               generator: torch.Generator | None = None) -> torch.Tensor:
    """The candidate's style loss per sample [B], averaged over its taps."""
    total = 0.0
    for tap in candidate.style_taps:
        o, s = f_out[tap], f_style[tap]
        if candidate.statistic == "meanstd":
            target = mean_std(s)
            total = total + relative_error(mean_std(o) - target, target)
        elif candidate.statistic == "gram":
            total = total + relative_error(gram(o) - gram(s), gram(s))
        else:
            total = total + sliced_wasserstein(o, s, generator)
    return total / len(candidate.style_taps)


def stylise_by_optimisation(net: torch.nn.Module, candidate: Candidate, photos: torch.Tensor, paintings: torch.Tensor,
                            steps: int = 120, lr: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Adam on the pixels of ``photos`` [B,3,H,W] (started from them) against the candidate loss with
    ``paintings`` [B,3,h,w] as targets, pair by pair in one batch → [B,3,H,W] in 0..1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        f_style = [f.detach() for f in net(paintings)]
        f_content = net(photos)[candidate.content_tap].detach()
    x = photos.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad(set_to_none=True)
        # A sum: each picture's pixels get their own pair's gradient.
        _loss(net, candidate, f_style, f_content, x, generator).sum().backward()
        optimiser.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def _loss(net, candidate: Candidate, f_style, f_content, x: torch.Tensor, generator) -> torch.Tensor:
    f_out = net(x)
    return style_term(candidate, f_out, f_style, generator) \
        + candidate.content_weight * relative_error(f_out[candidate.content_tap] - f_content, f_content)


def fit_through_model(model, net: torch.nn.Module, candidate: Candidate, photo: torch.Tensor,
                      paintings: torch.Tensor, free: str = "style", steps: int = 120, lr: float = 0.05,
                      seed: int = 0):
    """Optimise ``free`` (``style`` or ``style_params``) by Adam against the candidate loss, so that G
    renders ``photo`` [1,3,H,W] (sides multiples of 8) in each of ``paintings`` [B,3,h,w]; E_c and G stay
    as they are. → (the picture as is [B,3,H,W], the fitted leaves, ``render()`` of the fitted leaves)."""
    E_c, E_s, G = model.feature_extractor, model.style_encoder, model.generator
    generator = torch.Generator().manual_seed(seed)
    b = paintings.shape[0]
    with torch.no_grad():
        code = E_c(photo).expand(b, -1, -1, -1)
        noise = make_noise(seed, photo.shape[-2], photo.shape[-1], G.noise_strides, photo.device, photo.dtype)
        f_style = [f.detach() for f in net(paintings)]
        f_content = net(photo)[candidate.content_tap].detach().expand(b, -1, -1, -1)
        style = E_s(paintings)
        as_is = G(code, style, noise).clamp(0, 1)
    if free == "style":
        leaves = [style.clone().requires_grad_(True)]
        render = lambda: G(code, leaves[0], noise)  # noqa: E731
    else:
        with torch.no_grad():
            leaves = [p.clone().requires_grad_(True) for p in G.style_params(style)]
        render = lambda: G.render(G.body(code, leaves), leaves, noise)  # noqa: E731
    optimiser = torch.optim.Adam(leaves, lr=lr)
    for _ in range(steps):
        optimiser.zero_grad(set_to_none=True)
        _loss(net, candidate, f_style, f_content, render(), generator).sum().backward()
        optimiser.step()
    return as_is, [leaf.detach() for leaf in leaves], render


def stylise_through_model(model, net: torch.nn.Module, candidate: Candidate, photo: torch.Tensor,
                          paintings: torch.Tensor, free: str, steps: int = 120, lr: float = 0.05,
                          seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``photo`` [1,3,H,W] (sides multiples of 8) in each of ``paintings`` [B,3,h,w], rendered by the
    model's G with E_s's style vectors, and with ``free`` fitted (``fit_through_model``) → (as is,
    fitted), each [B,3,H,W] in 0..1."""
    as_is, _, render = fit_through_model(model, net, candidate, photo, paintings, free, steps, lr, seed)
    with torch.no_grad():
        return as_is, render().clamp(0, 1)


@dataclass
class ProbeSettings:
    size: int = 256
    steps: int = 120
    lr: float = 0.05
    seed: int = 0
    max_content: int = 2
    max_style: int = 6
    holdout_fraction: float = 0.08
    candidates: list[Candidate] = field(default_factory=list)
    model: str = ""
    """A model (name, folder or Hub id) whose style vector or G parameters are optimised (``free``)."""
    free: str = "pixels"
    """What is optimised: ``pixels``, or with ``model``: ``style`` or ``style_params`` (see the module doc)."""

    def __post_init__(self):
        if self.free not in FREE:
            raise ValueError(f"--free: unknown {self.free!r}; use one of {', '.join(FREE)}")
        if (self.free == "pixels") != (not self.model):
            raise ValueError("--free: pixels are optimised without --model; style and style_params need --model")


def run_probe(content_dir: str, style_dir: str, out_dir: str, settings: ProbeSettings, judge=None,
              log=print) -> dict:
    """Every candidate on held-out photos × never-seen paintings; pictures, a sheet per candidate and
    ``probe.json`` (judge scores per candidate and per pair, seconds) in ``out_dir``."""
    from .evaluate import load_for_eval
    from .judge import Judge, evaluation_set

    chosen = evaluation_set(content_dir, style_dir, settings.holdout_fraction, settings.max_content, settings.max_style,
                            seen=False)
    photos = [load_for_eval(p, settings.size) for p in chosen.photos]
    paintings = [load_for_eval(p, settings.size) for p in chosen.paintings]
    model = None
    if settings.model:
        from ..storage.loading import load_model

        model = load_model(settings.model, device="cpu", precision="fp32", allow_paths=True)
        model.fused = False  # the plain formulas: the ones autograd runs through
        photos = [p[..., : p.shape[-2] // 8 * 8, : p.shape[-1] // 8 * 8] for p in photos]  # G's stride
    judge = judge or Judge()
    os.makedirs(out_dir, exist_ok=True)
    report = {"settings": {k: v for k, v in asdict(settings).items() if k != "candidates"},
              "photos": [os.path.basename(p) for p in chosen.photos],
              "paintings": [os.path.basename(p) for p in chosen.paintings], "candidates": []}
    targets = torch.cat([_square(p, settings.size) for p in paintings])  # paintings as squares of a common size

    def write(tag: str, label: str, outputs: list[list[torch.Tensor]], seconds: float, extra: dict) -> None:
        scores = judge.score(photos, paintings, {label: outputs})[label]
        rows = [[None] + [p[0] for p in paintings]] + [[photo[0]] + [o[0] for o in row]
                                                        for photo, row in zip(photos, outputs)]
        with atomic_path(os.path.join(out_dir, f"{tag}.png")) as tmp:
            grid_image(rows, 160).save(tmp, format="PNG")
        report["candidates"].append({**extra, "label": label, "sheet": f"{tag}.png", "seconds": round(seconds, 1),
                                     "seconds_per_picture": round(seconds / (len(photos) * len(paintings)), 1),
                                     **scores})
        log(f"[probe] {label}: style {scores['style_similarity']:.3f}, top-1 {scores['top1']:.2f}, "
            f"SSIM {scores['ssim']:.3f}, edge F1 {scores['edge_f1']:.3f}, {seconds:.0f} s")
        with atomic_path(os.path.join(out_dir, "probe.json")) as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=1)

    for index, candidate in enumerate(settings.candidates):
        net = load_network(candidate.network, candidate.depth)
        t0 = time.perf_counter()
        outputs: list[list[torch.Tensor]] = []
        as_is: list[list[torch.Tensor]] = []
        for photo in photos:  # one photo × all paintings per batch
            if model is None:
                batch = stylise_by_optimisation(net, candidate, photo.expand(len(paintings), -1, -1, -1).contiguous(),
                                                targets, settings.steps, settings.lr, settings.seed)
            else:
                unfitted, batch = stylise_through_model(model, net, candidate, photo, targets, settings.free,
                                                        settings.steps, settings.lr, settings.seed)
                as_is.append([o[None] for o in unfitted])
            outputs.append([o[None] for o in batch])
        seconds = time.perf_counter() - t0
        tag = f"{index:02d}_{candidate.network}_{candidate.statistic}_{''.join(map(str, candidate.style_taps))}" \
              f"_c{candidate.content_tap}"
        if model is not None and index == 0:  # the model's own pictures, once: what the fits are measured against
            write("model_as_is", f"{model.config.name} as is", as_is, 0.0, {"free": "nothing"})
        label = candidate.label if model is None else f"{model.config.name}, {settings.free} fitted to {candidate.label}"
        write(tag, label, outputs, seconds, {"candidate": asdict(candidate), "free": settings.free})
    return report


def _square(image: torch.Tensor, size: int) -> torch.Tensor:
    """A painting [1,3,h,w] as a centred ``size``² crop (statistics do not need its layout)."""
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[..., top:top + side, left:left + side]
    return F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False) \
        if side != size else crop

