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

    for module in ("training.commands", "runner.commands", "hub_commands", "styles_commands", "bench"):
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__package__}.{module.split('.')[0]}"):
                continue
            raise


def main(argv: list[str] | None = None) -> int:
    from .networks.errors import StyleFusionError

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
    except (StyleFusionError, FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        print(f"stylefusion {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
