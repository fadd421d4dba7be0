"""Headless stand-ins for ComfyUI's core LoadImage, LoadImageMask, SaveImage and PreviewImage.

They keep core's node ids, input names, widget order (so ``widgets_values`` of a saved workflow map
the same way: LoadImage ``[image, upload]``, LoadImageMask ``[image, channel, upload]``, SaveImage
``[filename_prefix]``), output types and file conventions: SaveImage writes
``<output>/<prefix>_00001_.png`` with the prompt and workflow JSON as PNG text chunks, exactly as
ComfyUI does, so dragging a file into ComfyUI reopens the graph.

Where ComfyUI asks ``folder_paths``, these nodes ask the :class:`RunContext` the executor installs for
the run (input folders, output folder, preview folder, whether to write metadata).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import time
from dataclasses import dataclass, field

from ..storage.paths import is_inside
from .errors import InputFileError
from .images import IMAGE_EXTENSIONS, MASK_CHANNELS, read_image, read_mask, save_image


@dataclass
class RunContext:
    """Where files of one run are read and written."""

    input_dirs: list[str] = field(default_factory=lambda: [os.getcwd()])
    output_dir: str = field(default_factory=lambda: os.path.abspath("output"))
    preview_dir: str | None = None  # None: <output_dir>/preview
    metadata: bool = True

    @property
    def previews(self) -> str:
        return self.preview_dir or os.path.join(self.output_dir, "preview")

    def folder_of(self, kind: str) -> str:
        """Where files of ComfyUI's folder type ``kind`` go: "temp" (previews) or "output"."""
        return self.previews if kind == "temp" else self.output_dir

    def find_input(self, name: str) -> str:
        """Path of an input file named in a workflow: absolute, or relative to the input folders.

        ComfyUI's annotations ``name [input]``, ``name [output]`` and ``name [temp]`` pick the folder.
        """
        name = str(name).strip()
        folders = self.input_dirs
        for tag, where in ((" [input]", self.input_dirs), (" [output]", [self.output_dir]), (" [temp]", [self.previews])):
            if name.endswith(tag):
                name, folders = name[: -len(tag)], where
        if os.path.isabs(name):
            if os.path.isfile(name):
                return name
            raise InputFileError(f"file not found: {name}")
        for folder in folders:
            # A relative name stays inside its folder: "../../secret.png" in a shared workflow must
            # not read files elsewhere (absolute paths are the explicit way to name any file).
            path = os.path.normpath(os.path.join(os.path.abspath(folder), name))
            if not is_inside(folder, path):
                raise InputFileError(f"{name!r} points outside the input folder {folder}; give a file name inside "
                                     "it, or an absolute path")
            if os.path.isfile(path):
                return path
        raise InputFileError(f"file {name!r} not found; looked in {', '.join(folders)}")

    def list_inputs(self) -> list[str]:
        files: list[str] = []
        for folder in self.input_dirs:
            if os.path.isdir(folder):
                files += [f for f in os.listdir(folder)
                          if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, f))]
        return sorted(set(files))


_context: contextvars.ContextVar[RunContext] = contextvars.ContextVar("stylefusion_run_context")


def current_context() -> RunContext:
    ctx = _context.get(None)
    if ctx is None:
        ctx = RunContext()
        _context.set(ctx)
    return ctx


@contextlib.contextmanager
def use_context(ctx: RunContext):
    token = _context.set(ctx)
    try:
        yield ctx
    finally:
        _context.reset(token)


class LoadImage:
    """Core LoadImage: a file from the input folder (or an absolute path) → IMAGE and its alpha as MASK."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (current_context().list_inputs(), {"image_upload": True})}}

    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"
    DESCRIPTION = "Load a picture (headless stand-in for ComfyUI's core node)."

    def load_image(self, image):
        return read_image(current_context().find_input(image), "image")

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        return _input_file_exists(image)


class LoadImageMask:
    """Core LoadImageMask: one channel of a picture as MASK [1,H,W] (alpha inverted, as in core)."""

    _color_channels = list(MASK_CHANNELS)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (current_context().list_inputs(), {"image_upload": True}),
                             "channel": (cls._color_channels,)}}

    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "load_image"
    DESCRIPTION = "Load one channel of a picture as a mask (headless stand-in for ComfyUI's core node)."

    def load_image(self, image, channel):
        return (read_mask(current_context().find_input(image), channel, "image"),)

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        return _input_file_exists(image)


def _input_file_exists(image: str) -> bool:
    """The loaders' check before a run: the file named by input ``image`` can be found."""
    try:
        current_context().find_input(image)
    except InputFileError as exc:
        raise InputFileError(f"image: {exc}") from None
    return True


def _compute_vars(prefix: str, width: int, height: int) -> str:
    """The substitutions of ComfyUI's ``folder_paths.get_save_image_path`` (and the frontend's %date:…%)."""
    now = time.localtime()
    for key, value in (("width", width), ("height", height), ("year", now.tm_year), ("month", f"{now.tm_mon:02}"),
                       ("day", f"{now.tm_mday:02}"), ("hour", f"{now.tm_hour:02}"), ("minute", f"{now.tm_min:02}"),
                       ("second", f"{now.tm_sec:02}")):
        prefix = prefix.replace(f"%{key}%", str(value))

    def date(match: re.Match) -> str:
        fmt = match.group(1)
        for token, value in (("yyyy", f"{now.tm_year:04}"), ("yy", f"{now.tm_year % 100:02}"), ("MM", f"{now.tm_mon:02}"),
                             ("dd", f"{now.tm_mday:02}"), ("hh", f"{now.tm_hour:02}"), ("mm", f"{now.tm_min:02}"),
                             ("ss", f"{now.tm_sec:02}")):
            fmt = fmt.replace(token, value)
        return fmt

    return re.sub(r"%date:([^%]+)%", date, prefix)


def save_image_path(prefix: str, output_dir: str, width: int, height: int) -> tuple[str, str, int, str]:
    """ComfyUI's naming: (folder, file stem, next counter, subfolder) for ``<prefix>_<counter:05>_.png``.

    The counter continues after the highest existing ``<stem>_NNNNN_`` in the folder, so runs never
    overwrite earlier results. A prefix may hold sub-folders but never leaves the output folder.
    """
    if "%" in prefix:
        prefix = _compute_vars(prefix, width, height)
    output_dir = os.path.abspath(output_dir)
    subfolder = os.path.dirname(os.path.normpath(prefix)) if prefix.strip() else ""
    stem = os.path.basename(os.path.normpath(prefix)) if prefix.strip() else ""
    if stem in ("", ".") or stem.startswith("."):
        # An empty prefix (or one naming only a folder) would write hidden "._00001_.png" files.
        raise InputFileError(f"filename_prefix: {prefix!r} gives no file name (or a hidden one); type a name such "
                             "as ComfyUI or renders/portrait")
    folder = os.path.abspath(os.path.join(output_dir, subfolder))
    if not is_inside(output_dir, folder):
        raise InputFileError(f"filename_prefix: {prefix!r} would save outside the output folder {output_dir}")
    os.makedirs(folder, exist_ok=True)
    counter = 0
    pattern = re.compile(re.escape(stem) + r"_(\d+)_", re.IGNORECASE if os.name == "nt" else 0)
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match:
            counter = max(counter, int(match.group(1)))
    return folder, stem, counter + 1, subfolder


class SaveImage:
    """Core SaveImage: PNGs named ``<prefix>_00001_.png`` with "prompt" and "workflow" text chunks."""

    type = "output"  # ComfyUI's folder type of the files (PreviewImage: "temp")
    prefix_append = ""
    compress_level = 4

    def output_dir(self) -> str:
        return current_context().folder_of(self.type)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "tooltip": "The prefix for the file to save. "
                                               "May include %date:yyyy-MM-dd% or %width% / %height%."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image"
    DESCRIPTION = "Save images as PNG files in the output folder (headless stand-in for ComfyUI's core node)."

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        if images.dim() != 4 or images.shape[0] == 0:
            raise InputFileError(f"images: expected an IMAGE batch [B,H,W,3], got shape {tuple(images.shape)}")
        filename_prefix += self.prefix_append
        folder, stem, counter, subfolder = save_image_path(
            filename_prefix, self.output_dir(), images[0].shape[1], images[0].shape[0])
        texts = None
        if current_context().metadata:
            texts = {"prompt": prompt}
            texts.update(extra_pnginfo or {})
        results = []
        for batch_number, image in enumerate(images):
            while True:  # another run may take a counter first: never overwrite its file, take the next
                name = f"{stem.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
                try:
                    save_image(image, os.path.join(folder, name), texts, self.compress_level, exclusive=True)
                    break
                except FileExistsError:
                    counter += 1
            results.append({"filename": name, "subfolder": subfolder, "type": self.type})
            counter += 1
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    """Core PreviewImage. Headless, previews are written to ``<output>/preview/`` (ComfyUI: its temp folder)."""

    type = "temp"
    compress_level = 1

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO",
                                                              "unique_id": "UNIQUE_ID"}}

    DESCRIPTION = "Show images; headless, they are saved to <output>/preview/."

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None, unique_id=None):
        # ComfyUI names previews ComfyUI_temp_<random>; a stable name per node reads better in a shell.
        return super().save_images(images, f"preview_node{unique_id or ''}", prompt, extra_pnginfo)


NODE_CLASS_MAPPINGS = {
    "LoadImage": LoadImage,
    "LoadImageMask": LoadImageMask,
    "SaveImage": SaveImage,
    "PreviewImage": PreviewImage,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "LoadImage": "Load Image",
    "LoadImageMask": "Load Image (as Mask)",
    "SaveImage": "Save Image",
    "PreviewImage": "Preview Image",
}
