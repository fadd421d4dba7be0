"""``stylefusion styles build|list``: the style presets from the command line (builder: ``presets/build.py``).

    stylefusion styles build                 # every bundled model: models/pretrained/<name>/styles/
    stylefusion styles build --model M --out DIR
    stylefusion styles list [--model M]      # one preset per line, its name first
"""

from __future__ import annotations

import argparse
import os

from ..networks.errors import InputError
from ..presets.build import RECIPES, build_presets
from ..storage.loading import load_model, resolve_model_path
from ..storage.paths import bundled_models
from ..storage.presets import list_presets, model_styles_folder


def _styles_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="styles_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="encode the preset recipes with a model into its styles/ folder",
                           description="Encode presets/manifest.json with a model. Without --model: every bundled "
                                       "model, into models/pretrained/<name>/styles/.")
    build.add_argument("--model", default=None, help="model (bundled name, folder, or Hub repo); default: every "
                                                     "bundled model")
    build.add_argument("--out", default=None, help="preset folder to write (default: <model folder>/styles)")
    build.add_argument("--recipes", default=RECIPES, help="recipe manifest (default: the pack's presets/manifest.json)")
    listing = sub.add_parser("list", help="print the presets, one per line, name first")
    listing.add_argument("--model", default=None, help="list this model's presets (default: the bundled models')")


def _styles(args: argparse.Namespace) -> int:
    if args.styles_command == "list":
        model = load_model(args.model, "cpu", "fp32", allow_paths=True) if args.model else None
        for preset in list_presets(model):
            print(f"{preset.name}\t{preset.model_name} [{preset.model_fingerprint[:8]}]\t{preset.description}")
        return 0
    targets = [args.model] if args.model else list(bundled_models())
    if args.out and len(targets) != 1:
        raise InputError("--out: give --model too (one model, one preset folder)")
    for source in targets:
        path = resolve_model_path(source, allow_paths=True)
        if not args.out and not os.path.isdir(path):
            raise InputError(f"--out: model {source} is a single file, so it has no styles/ folder; say where the "
                             "presets go with --out DIR")
        model = load_model(source, "cpu", "fp32", allow_paths=True)
        build_presets(model, args.out or model_styles_folder(path), args.recipes, log=print)
    return 0


COMMANDS = {
    "styles": (_styles_args, _styles, "build the bundled style presets for a model, or list the presets"),
}
