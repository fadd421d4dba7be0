"""The ``stylefusion`` command: one sub-command per job. Exit code 0 on success; otherwise a one-line reason.

Sub-commands register themselves in ``COMMANDS`` (name → (add_arguments, run)); heavy modules are
imported only when their command runs, so ``stylefusion --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
COMMANDS: dict[str, Command] = {}


def command(name: str, help_text: str):
    def register(add_arguments):
        def wrap(run):
            COMMANDS[name] = (add_arguments, run, help_text)
            return run
        return wrap
    return register


# -- train ------------------------------------------------------------------------------------------
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
    from .training.config import TrainingConfig
    from .training.loop import train

    config = TrainingConfig.load(args.config)
    if args.steps <= 0:
        raise ValueError("--steps: must be a positive total step count")
    trainer = train(config, args.content, args.style, args.out, args.steps, resume=args.resume,
                    device=args.device, progress=not args.no_progress)
    if trainer.rank == 0:
        print(f"[stylefusion] run {args.out}: step {trainer.step}, {trainer.elapsed / 60:.1f} min of training")
    return 0


def build_parser() -> argparse.ArgumentParser:
    _load_optional_commands()
    parser = argparse.ArgumentParser(prog="stylefusion", description="StyleFusion: GAN style transfer and image fusion")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_arguments, _, help_text) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _load_optional_commands() -> None:
    """Sub-commands defined in other modules register themselves when imported."""
    import importlib

    for module in ("training.commands", "runner.commands", "hub_commands", "bench"):
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__package__}.{module.split('.')[0]}"):
                continue
            raise


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _, run, _ = COMMANDS[args.command]
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print("stylefusion: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        print(f"stylefusion {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
