"""Style presets: named, ready-made styles of one model, picked by name instead of encoded from a picture.

A *preset folder* holds style files and their index ``presets.json``::

    presets.json            {"format": 1, "model_name": ..., "model_fingerprint": ...,
                             "presets": [{"name", "file", "description", "sources": [{"file", "credit", "license"}],
                                          "thumbnail" (packs only)}]}
    <name>.safetensors      the style vector [1,D] (``style_file.save_style``; same fingerprint in its metadata)
    thumbnails/<name>.jpg   packs only: the style applied to the sample photo

Where preset folders are (decided once, here):

- ``<model folder>/styles/``: the presets of that model. They belong to the model they were encoded with,
  so they live inside its folder and travel with it (bundled, exported, pushed to and downloaded from the
  Hub). ``stylefusion styles build`` and ``stylefusion export`` rebuild them whenever the weights change.
- ``<models>/stylefusion_styles/owner--name[@rev]/``: a style pack from the Hub
  (``stylefusion download owner/name``), usable offline once there.

Names: a model's own presets by their plain name (``van_gogh``); a pack's as ``owner/name[@rev]:van_gogh``.
The recipes of the bundled presets (source pictures, credits, licences) are ``presets/manifest.json`` in
the pack; ``build_presets`` in ``presets/build.py`` turns them into a preset folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace

from ..networks.values import StyleVector, check_same_model
from ..networks.model import StyleFusionModel
from ..networks.errors import InputError, ModelFormatError, ModelMismatchError
from .paths import STYLES_KIND, bundled_models, folders
from .style_file import load_style
from .weights import write_text

INDEX_NAME = "presets.json"
INDEX_FORMAT = 1
#: Sub-folder of a model folder holding that model's presets.
MODEL_STYLES_DIR = "styles"
THUMBNAILS_DIR = "thumbnails"


@dataclass(frozen=True)
class Preset:
    """One entry of a preset folder's index. ``name`` is the name users pick (``owner/pack:x`` for packs)."""

    name: str
    path: str
    model_name: str
    model_fingerprint: str
    description: str = ""
    sources: tuple = field(default=(), compare=False)


# -- the index --------------------------------------------------------------------------------------
def read_index(folder: str) -> dict | None:
    """The ``presets.json`` of ``folder`` (checked), or None when there is none."""
    path = os.path.join(folder, INDEX_NAME)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            index = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{path}: unreadable preset index ({exc})") from None
    if not isinstance(index, dict) or not isinstance(index.get("presets"), list):
        raise ModelFormatError(f"{path}: not a StyleFusion preset index (no 'presets' list)")
    if int(index.get("format", 0)) > INDEX_FORMAT:
        raise ModelFormatError(f"{path}: preset index format {index['format']} is newer than this StyleFusion "
                               "reads; update the pack")
    for entry in index["presets"]:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("file"):
            raise ModelFormatError(f"{path}: every preset needs a name and a file, found {entry!r}")
    return index


def write_index(folder: str, model_name: str, model_fingerprint: str, entries: list[dict]) -> str:
    """Write ``presets.json`` for ``entries`` (each with at least name and file) made by one model."""
    index = {"format": INDEX_FORMAT, "model_name": model_name, "model_fingerprint": model_fingerprint,
             "presets": entries}
    path = os.path.join(folder, INDEX_NAME)
    write_text(path, json.dumps(index, indent=1, ensure_ascii=False) + "\n")
    return path


def folder_presets(folder: str, prefix: str = "") -> list[Preset]:
    """The presets a preset folder lists, named ``prefix + name``."""
    index = read_index(folder)
    if index is None:
        return []
    return [Preset(prefix + e["name"], os.path.join(folder, *e["file"].split("/")), index.get("model_name", "unknown"),
                   index.get("model_fingerprint", ""), e.get("description", ""), tuple(e.get("sources", ())))
            for e in index["presets"]]


# -- where preset folders are -----------------------------------------------------------------------
def model_styles_folder(model_dir: str) -> str:
    """The preset folder of a model folder."""
    return os.path.join(model_dir, MODEL_STYLES_DIR)


def pack_folders() -> dict[str, str]:
    """Downloaded style packs: ``owner/name[@rev]`` → folder (``<styles>/owner--name[@rev]`` with an index)."""
    packs: dict[str, str] = {}
    for root in folders(STYLES_KIND):
        if not os.path.isdir(root):
            continue
        for entry in sorted(os.listdir(root)):
            folder = os.path.join(root, entry)
            if "--" in entry and not entry.startswith(".") and os.path.isfile(os.path.join(folder, INDEX_NAME)):
                packs.setdefault(entry.replace("--", "/", 1), folder)
    return packs


def _model_folder(model: StyleFusionModel) -> str | None:
    return model.source if os.path.isdir(model.source) else None


def list_presets(model: StyleFusionModel | None = None) -> list[Preset]:
    """Presets usable by name: ``model``'s own (without a model: every bundled model's, default first,
    first name wins), then every downloaded pack's. Packs of other models are listed too; using one
    is refused with both model names."""
    own_folders = [_model_folder(model)] if model is not None else list(bundled_models().values())
    found: dict[str, Preset] = {}
    for folder in own_folders:
        if folder:
            for preset in folder_presets(model_styles_folder(folder)):
                found.setdefault(preset.name, preset)
    for label, folder in pack_folders().items():
        for preset in folder_presets(folder, f"{label}:"):
            found.setdefault(preset.name, preset)
    return list(found.values())


def find_preset(name: str, model: StyleFusionModel | None = None) -> Preset:
    """The preset called ``name`` for ``model``: its own, a pack's, or (to refuse it clearly) a bundled one."""
    name = (name or "").strip()
    candidates = list_presets(model)
    if model is not None and ":" not in name:
        candidates += list_presets(None)  # a bundled model's preset with another model: found, then refused
    for preset in candidates:
        if preset.name == name:
            return preset
    known = [p.name for p in list_presets(model)]
    shown = ", ".join(known[:40]) + (", …" if len(known) > 40 else "")
    raise InputError(f"preset: {name!r} is not a known preset; available: {shown or 'none'} "
                     "(`stylefusion styles list` prints them; `stylefusion download owner/pack` adds a pack)")


def load_preset(model: StyleFusionModel, name: str) -> StyleVector:
    """The style vector of preset ``name``; a preset encoded by another model is refused with both names."""
    preset = find_preset(name, model)
    if not os.path.isfile(preset.path):
        raise ModelFormatError(f"preset: {name!r} is listed in {os.path.dirname(preset.path)} but its file "
                               f"{os.path.basename(preset.path)} is missing; rebuild with `stylefusion styles build`")
    style = load_style(preset.path)
    try:
        check_same_model(model, style, f"preset {name!r}")
    except ModelMismatchError as exc:
        hint = ("rebuild this model's presets with `stylefusion styles build`" if ":" not in name
                else "use a pack made for this model")
        raise ModelMismatchError(f"{exc}; {hint}") from None
    return replace(style, name=name)
