"""``stylefusion run``, ``transfer`` and ``fuse``: workflows and the one-shot jobs from the command line.

A failure prints one line, ``stylefusion <command>: <reason>``, on stderr (see :func:`stylefusion.cli.main`)
and returns the exit code of ``runner/errors.py`` (1 node/model failure, 3 workflow file, 4 invalid workflow,
5 missing or unreadable input file); ``--traceback`` shows the Python traceback instead.
"""

from __future__ import annotations

import argparse
import os

from ..models.api import (AUTO_REFINE_STEPS, DEFAULT_REFINE_STEPS, DEFAULT_STRENGTH, extract_features, fuse_images,
                          generate, resolve_refine_steps, transfer)
from ..networks.errors import InputError
from ..runner.executor import parse_setting, run_workflow
from ..runner.images import nchw_to_nhwc, nhwc_to_nchw, read_gray, read_image, save_image
from ..storage.loading import load_model
from ..storage.presets import load_preset

EXIT_CODES = """exit codes:
  0  success
  1  a node or the model failed (the message names the node)
  2  bad command line
  3  the workflow file is missing, not JSON, or not a ComfyUI workflow
  4  the workflow is invalid: unknown node type, broken link, missing input, bad widget value
  5  an input image or mask file is missing or unreadable"""


def _common_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="", help="bundled model name, a name in the models folder, a model folder or "
                   ".safetensors file, or a Hub repo owner/name[@revision] (default: the bundled model)")
    p.add_argument("--seed", type=int, default=0, help="noise seed; the same inputs and seed give the same image (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 or mps (default auto)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                   help="weights precision (default auto: fp16 on GPU, fp32 on CPU)")
    p.add_argument("--traceback", action="store_true", help="on failure, show the Python traceback (for bug reports)")


def _input_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PATH, e.g. photo.png=~/pictures/cat.jpg")
    return name, value


# -- run ---------------------------------------------------------------------------------------------
RUN_EXAMPLES = """examples:
  stylefusion run example_workflows/style_transfer.json
  stylefusion run my_graph.json --input photo.jpg=~/cat.jpg --set 5.seed=7 --output-dir out
  stylefusion run out/StyleFusion_00001_.png   (re-run the graph a saved PNG carries)

"""


def _run_args(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = RUN_EXAMPLES + EXIT_CODES
    p.add_argument("workflow", help="workflow file: ComfyUI UI or API format .json, or a PNG saved by ComfyUI")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=PATH",
                   type=_input_pair,
                   help="use the image at PATH for the LoadImage node whose file is NAME (or whose node id is NAME); "
                        "repeatable")
    p.add_argument("--set", action="append", default=[], metavar="TARGET.INPUT=VALUE", dest="settings",
                   help="change a widget value; TARGET is a node id, node type or title, e.g. 5.seed=3 or "
                        "StyleFusionModelLoader.model=my-model; repeatable")
    p.add_argument("--input-dir", default=None,
                   help="folder LoadImage reads file names from (default: the workflow's folder and its inputs/)")
    p.add_argument("--output-dir", default="output", help="folder SaveImage writes to (default ./output)")
    p.add_argument("--preview-dir", default=None, help="folder PreviewImage writes to (default <output-dir>/preview)")
    p.add_argument("--no-metadata", action="store_true", help="do not embed the workflow and prompt in saved PNGs")
    p.add_argument("-v", "--verbose", action="store_true", help="print each node as it runs, with its time")
    p.add_argument("--traceback", action="store_true", help="on failure, show the Python traceback (for bug reports)")


def _run(args: argparse.Namespace) -> int:
    settings = [parse_setting(text) for text in args.settings]
    result = run_workflow(args.workflow, inputs=dict(args.input), settings=settings, input_dir=args.input_dir,
                          output_dir=args.output_dir, preview_dir=args.preview_dir,
                          metadata=not args.no_metadata, log=print if args.verbose else None)
    for path in result.files:
        print(_shown(path))
    for message in result.messages:
        print(message)
    if args.verbose:
        print(f"ran {len(result.executed)} nodes in {result.seconds:.1f} s; {len(result.files)} files written")
    return 0


def _shown(path: str) -> str:
    """A path relative to the current folder when it is inside it, else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith("..") else relative


# -- transfer / fuse ---------------------------------------------------------------------------------
def _load_model(args: argparse.Namespace):
    return load_model(args.model, args.device, args.precision, allow_paths=True)


def _read(path: str, what: str):
    image, _ = read_image(path, what)
    return nhwc_to_nchw(image)


def _write(images, output: str, texts: dict) -> list[str]:
    """Save a batch [B,3,H,W]: ``output`` for one image, ``<stem>_00001<ext>``… for several."""
    frames = nchw_to_nhwc(images.detach().cpu().float())
    stem, ext = os.path.splitext(output)
    paths = [output] if len(frames) == 1 else [f"{stem}_{i:05}{ext}" for i in range(1, len(frames) + 1)]
    for frame, path in zip(frames, paths):
        save_image(frame, path, texts)
        print(path)
    return paths


def _check_tile(tile_size: int, overlap: int = 0) -> int:
    if tile_size != 0 and tile_size < 64:
        raise InputError(f"--tile-size: {tile_size} is too small; use 0 (whole image) or at least 64")
    if overlap < 0:
        raise InputError(f"--tile-overlap: {overlap} must be 0 or more")
    return tile_size


def _transfer_args(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EXIT_CODES
    p.add_argument("content", help="the picture whose structure is kept")
    p.add_argument("style", nargs="?", default=None,
                   help="the picture whose colours and textures are used (or give --preset instead)")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="use a style preset instead of a picture (see `stylefusion styles list`)")
    p.add_argument("-o", "--output", required=True, help="output file (.png, .jpg, .webp); a batch gets _00001… suffixes")
    p.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                   help=f"0 = the content unchanged, 1 = full style (default {DEFAULT_STRENGTH}, as the Style Transfer "
                        "node)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours, take only texture")
    p.add_argument("--tile-size", type=int, default=0, help="render in tiles of this size to bound memory (0 = whole image)")
    p.add_argument("--tile-overlap", type=int, default=64,
                   help="pixels neighbouring tiles share and cross-fade (default 64; only with --tile-size)")
    p.add_argument("--refine-steps", type=int, default=AUTO_REFINE_STEPS, metavar="N",
                   help="fit the style vector to the picture first, for more of the painting's colours and contrast: "
                        "about 0.3 s per step on an idle 2-core CPU; 0 = off; default -1 = the model's default, "
                        f"{DEFAULT_REFINE_STEPS} on a model with a vgg16 style encoder (stylefusion-v2), none on "
                        "others")
    _common_model_args(p)


def _transfer(args: argparse.Namespace) -> int:
    if (args.style is None) == (args.preset is None):
        raise InputError("style: give either a style picture or --preset NAME (not both)")
    tile_size = _check_tile(args.tile_size, args.tile_overlap)
    content = _read(args.content, "content")
    if args.preset is not None:
        model = _load_model(args)
        preset = load_preset(model, args.preset)
        steps = resolve_refine_steps(model, args.refine_steps, preset)
        features = extract_features(model, content, tile_size=tile_size)
        image = generate(model, features, preset, args.strength, args.preserve_color, args.seed,
                         tile_size=tile_size, tile_overlap=args.tile_overlap, refine_steps=steps)
    else:
        style = _read(args.style, "style")
        if style.shape[0] not in (1, content.shape[0]):
            style = style[:1]
        model = _load_model(args)
        steps = resolve_refine_steps(model, args.refine_steps)  # a style it encodes has what refinement needs
        image = transfer(model, content, style, strength=args.strength, preserve_color=args.preserve_color,
                         seed=args.seed, tile_size=tile_size, tile_overlap=args.tile_overlap, refine_steps=steps)
    _write(image, args.output, {"stylefusion": {
        "command": "transfer", "content": os.path.basename(args.content),
        "style": f"preset:{args.preset}" if args.preset else os.path.basename(args.style),
        "strength": args.strength, "preserve_color": args.preserve_color, "seed": args.seed,
        "refine_steps": steps, "model": model.display_name}})
    return 0


def _fuse_args(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EXIT_CODES
    p.add_argument("image_a", metavar="A", help="first picture (the result has its size)")
    p.add_argument("image_b", metavar="B", help="second picture (resized to A)")
    p.add_argument("-o", "--output", required=True, help="output file (.png, .jpg, .webp)")
    p.add_argument("--weight", type=float, default=0.5, help="0 = only A, 1 = only B (default 0.5)")
    p.add_argument("--mask", default=None, help="mask picture: white takes B, black keeps A (its luminance is used)")
    p.add_argument("--style-source", default="mix", choices=("a", "b", "mix"),
                   help="whose style renders the result: a, b, or their mix by weight (default mix)")
    p.add_argument("--mode", default=None, choices=("blend", "mask", "stats"),
                   help="how the content features fuse (default: mask with --mask, else blend)")
    _common_model_args(p)


def _fuse(args: argparse.Namespace) -> int:
    image_a = _read(args.image_a, "A")
    image_b = _read(args.image_b, "B")
    mask = read_gray(args.mask, "mask") if args.mask else None
    model = _load_model(args)
    image = fuse_images(model, image_a, image_b, weight=args.weight, mask=mask, style_source=args.style_source,
                        seed=args.seed, mode=args.mode)
    _write(image, args.output, {"stylefusion": {
        "command": "fuse", "a": os.path.basename(args.image_a), "b": os.path.basename(args.image_b),
        "weight": args.weight, "mask": os.path.basename(args.mask) if args.mask else None,
        "style_source": args.style_source, "mode": args.mode, "seed": args.seed, "model": model.display_name}})
    return 0


COMMANDS = {
    "run": (_run_args, _run, "run a ComfyUI workflow (UI or API format) headlessly"),
    "transfer": (_transfer_args, _transfer, "restyle a picture in the style of another (one-shot style transfer)"),
    "fuse": (_fuse_args, _fuse, "fuse two pictures into a new one (image fusion)"),
}
