"""Make the README's workflow gallery and the template thumbnails: every shipped workflow's inputs → output.

    python docs/make_gallery.py [--model stylefusion-base] [--out docs/gallery]

Each workflow runs headlessly (``stylefusion.runner``) with the bundled model, exactly as
``stylefusion run example_workflows/<name>.json`` would; the strip shows the files its LoadImage /
LoadImageMask nodes read, an arrow, and what its SaveImage nodes wrote (every frame of a batch).
It also writes ``example_workflows/<name>.jpg``, the thumbnail ComfyUI's template browser shows
beside ``<name>.json``: the workflow's first output, fitted into THUMB px.
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile

from PIL import Image, ImageDraw, ImageSequence

HEIGHT = 150
GAP = 8
THUMB = 320


def _frames(path: str) -> list[Image.Image]:
    with Image.open(path) as img:
        return [f.convert("RGB").copy() for f in ImageSequence.Iterator(img)]


def _fit(img: Image.Image) -> Image.Image:
    return img.resize((max(1, round(img.width * HEIGHT / img.height)), HEIGHT), Image.LANCZOS)


def strip(inputs: list[Image.Image], outputs: list[Image.Image]) -> Image.Image:
    ins, outs = [_fit(i) for i in inputs], [_fit(o) for o in outputs]
    arrow = 40
    width = sum(i.width + GAP for i in ins) + arrow + sum(o.width + GAP for o in outs)
    sheet = Image.new("RGB", (width, HEIGHT), (255, 255, 255))
    x = 0
    for img in ins:
        sheet.paste(img, (x, 0))
        x += img.width + GAP
    draw = ImageDraw.Draw(sheet)
    mid = HEIGHT // 2
    draw.line([(x + 4, mid), (x + arrow - 10, mid)], fill=(60, 60, 60), width=4)
    draw.polygon([(x + arrow - 4, mid), (x + arrow - 14, mid - 8), (x + arrow - 14, mid + 8)], fill=(60, 60, 60))
    x += arrow
    for img in outs:
        sheet.paste(img, (x, 0))
        x += img.width + GAP
    return sheet


def thumbnail(output: Image.Image) -> Image.Image:
    """The template browser's picture: an output scaled so its long side is THUMB px."""
    img = output.copy()
    img.thumbnail((THUMB, THUMB), Image.LANCZOS)
    return img


def main() -> None:
    from stylefusion.runner import run_workflow

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="model for every loader (default: the workflow's own choice)")
    parser.add_argument("--out", default=os.path.join(root, "docs", "gallery"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(root, "example_workflows", "*.json"))):
        name = os.path.splitext(os.path.basename(path))[0]
        settings = [("StyleFusionModelLoader", "model", args.model)] if args.model else []
        with tempfile.TemporaryDirectory() as tmp:
            result = run_workflow(path, settings=settings, output_dir=tmp, metadata=False)
            inputs = []
            for node in sorted(result.workflow.nodes.values(), key=lambda n: int(n.id)):
                if node.class_type in ("LoadImage", "LoadImageMask"):
                    file = os.path.join(os.path.dirname(path), "inputs", node.inputs["image"])
                    inputs.append(_frames(file)[0])  # a multi-frame input shows its first frame
            outputs = [Image.open(f).convert("RGB") for f in result.files if "preview" not in f]
            strip(inputs, outputs).save(os.path.join(args.out, f"{name}.jpg"), quality=85, optimize=True)
            thumbnail(outputs[0]).save(os.path.splitext(path)[0] + ".jpg", quality=85, optimize=True)
        print(f"{name}: {len(inputs)} inputs → {len(outputs)} outputs, {result.seconds:.1f} s")


if __name__ == "__main__":
    main()
