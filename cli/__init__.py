"""The ``stylefusion`` command: one sub-command per job. Exit code 0 on success; otherwise a one-line reason.

Each module here is one group of sub-commands and lists them in its ``COMMANDS`` (name → (add_arguments,
run, help)): :mod:`.train` (train, export, evaluate, probe), :mod:`.run` (run, transfer, fuse), :mod:`.hub`
(push, push-styles, download), :mod:`.styles` (styles) and :mod:`.bench` (bench). A command only parses
its arguments and calls the library; every failure it raises becomes one line in :func:`main`.

Nothing in the package imports this one: it sits on top (``__main__.py`` and the console script call it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from ..networks.errors import StyleFusionError
from ..runner.errors import WorkflowError
from . import bench, hub, run, styles, train

Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]

#: Every sub-command, in the order ``stylefusion --help`` lists them.
COMMANDS: dict[str, Command] = {**train.COMMANDS, **run.COMMANDS, **hub.COMMANDS, **styles.COMMANDS,
                                **bench.COMMANDS}

#: Failures the user can act on (a bad input, file, workflow or model): one line on stderr, not a traceback.
#: A ``WorkflowError`` carries its own exit code (see ``runner/errors.py``); the others exit with 1.
USER_ERRORS = (StyleFusionError, WorkflowError, ValueError, RuntimeError, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylefusion", description="StyleFusion: GAN style transfer and image fusion")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_arguments, _, help_text) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _, run_command, _ = COMMANDS[args.command]
    try:
        return int(run_command(args) or 0)
    except KeyboardInterrupt:
        print("stylefusion: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if getattr(args, "traceback", False):  # ``run``, ``transfer`` and ``fuse`` offer --traceback for bug reports
            raise
        message = " ".join(str(exc).split("\n")).strip() or type(exc).__name__
        print(f"stylefusion {args.command}: {message}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
