"""Rebuild the bundled style presets and draw the README's contact sheet: every preset applied to one photo.

    python docs/make_preset_sheet.py [--model stylefusion-base] [--photo example_workflows/inputs/photo.jpg]
                                     [--out docs/presets.jpg] [--no-build]

First runs what ``stylefusion styles build`` runs for the model (so the presets match its weights),
then renders the photo with each preset at strength 1, seed 0, and writes a labelled grid: the photo
first, then the presets in manifest order. After swapping the bundled model, this one command brings
presets and sheet up to date.
"""

from __future__ import annotations

import argparse
import os

from PIL import Image, ImageDraw

CELL = 200
LABEL = 18
COLUMNS = 6


def sheet(cells: list[tuple[str, Image.Image]]) -> Image.Image:
    """A grid of COLUMNS labelled cells, each picture fitted into CELL px wide."""
    height = max(round(img.height * CELL / img.width) for _, img in cells)
    rows = -(-len(cells) // COLUMNS)
    grid = Image.new("RGB", (COLUMNS * CELL, rows * (height + LABEL)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for i, (label, img) in enumerate(cells):
        x, y = (i % COLUMNS) * CELL, (i // COLUMNS) * (height + LABEL)
        fitted = img.resize((CELL - 4, round(img.height * (CELL - 4) / img.width)), Image.LANCZOS)
        grid.paste(fitted, (x + 2, y + 2))
        draw.text((x + 4, y + height + 2), label, fill=(20, 20, 20))
    return grid


def main() -> None:
    from stylefusion.storage.paths import DEFAULT_MODEL
    from stylefusion.storage.presets import list_presets, model_styles_folder
    from stylefusion.storage.loading import load_model, resolve_model_path
    from stylefusion.presets.build import SAMPLE_PHOTO, _read_picture, apply_presets, build_presets
    from stylefusion.storage.images import to_pil

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="bundled model or model folder (default: the bundled one)")
    parser.add_argument("--photo", default=SAMPLE_PHOTO)
    parser.add_argument("--out", default=os.path.join(root, "docs", "presets.jpg"))
    parser.add_argument("--no-build", action="store_true", help="draw the sheet from the presets as they are")
    args = parser.parse_args()
    model = load_model(args.model, "cpu", "fp32", allow_paths=True)
    if not args.no_build:
        build_presets(model, model_styles_folder(resolve_model_path(args.model, allow_paths=True)), log=print)
    photo = _read_picture(args.photo)
    names = [p.name for p in list_presets(model) if ":" not in p.name]  # the model's own, not downloaded packs
    rendered = apply_presets(model, photo, names)
    cells = [("photo", to_pil(photo))] + [(name, to_pil(image)) for name, image in rendered.items()]
    sheet(cells).save(args.out, quality=85, optimize=True)
    print(f"{len(names)} presets of {model.display_name} → {args.out}")


if __name__ == "__main__":
    main()
