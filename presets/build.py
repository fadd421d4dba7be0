"""The builders of preset folders and style packs (what they are: ``storage/presets.py``).

The recipes of the bundled presets are ``manifest.json`` beside this file: each preset names its source
pictures (small copies in ``sources/``, credited in ``CREDITS.md``); a preset of several pictures is their
style vectors mixed in style space with equal weights (slerp unless the recipe says ``"mix": "lerp"``).
``build_presets`` encodes them with a model into its preset folder: ``stylefusion styles build`` calls it,
and so does ``stylefusion export``, so an exported model always carries fresh presets. ``pack_files`` adds
what makes a folder of style files a style pack on the Hub (``stylefusion push-styles``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile

from ..models.api import StyleVector, check_same_model, encode_style, extract_features, generate, mix_styles
from ..networks.errors import InputError, ModelFormatError, StyleFusionError
from ..runner.images import nhwc_to_nchw, read_image
from ..storage.images import to_pil
from ..storage.loading import load_model
from ..storage.paths import bundled_models, list_models
from ..storage.presets import INDEX_FORMAT, INDEX_NAME, THUMBNAILS_DIR, load_preset, read_index, write_index
from ..storage.style_file import load_style, save_style
from ..storage.weights import read_safetensors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifest.json")
SAMPLE_PHOTO = os.path.join(ROOT, "example_workflows", "inputs", "photo.jpg")
THUMBNAIL_SIZE = 256


def read_recipes(path: str = RECIPES) -> dict:
    """The preset recipes: {"presets": [{name, description, sources: [file...], mix?}], "images": [{file, credit,
    license, ...}]}, with every source picture checked to be credited and present next to the manifest."""
    with open(path, encoding="utf-8") as fh:
        recipes = json.load(fh)
    images = {i["file"]: i for i in recipes.get("images", [])}
    folder = os.path.join(os.path.dirname(path), "sources")
    for recipe in recipes.get("presets", []):
        for name in recipe.get("sources", []):
            if name not in images or not images[name].get("license") or not images[name].get("credit"):
                raise ModelFormatError(f"{path}: preset {recipe['name']!r} uses {name}, which has no credit and licence")
            if not os.path.isfile(os.path.join(folder, name)):
                raise ModelFormatError(f"{path}: preset {recipe['name']!r} uses {name}, missing from {folder}")
    return recipes


def _read_picture(path: str):
    """A picture file → [1,3,H,W] float in 0..1 (first frame), decoded as the CLI and runner do."""
    image, _ = read_image(path, "picture")
    return nhwc_to_nchw(image[:1])


def build_presets(model, out_dir: str, recipes_path: str = RECIPES, log=None) -> list[dict]:
    """Encode every recipe with ``model`` into the preset folder ``out_dir`` (replaced as a whole).

    Returns the index entries. The folder is assembled next to ``out_dir`` and renamed into place, so a
    failed build leaves the old presets untouched and a finished one leaves no stale file behind.
    """
    recipes = read_recipes(recipes_path)
    images = {i["file"]: i for i in recipes.get("images", [])}
    sources = os.path.join(os.path.dirname(recipes_path), "sources")
    vectors: dict[str, StyleVector] = {}
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".presets-", dir=parent)
    try:
        entries = []
        for recipe in recipes["presets"]:
            parts = []
            for file in recipe["sources"]:
                if file not in vectors:
                    vectors[file] = encode_style(model, _read_picture(os.path.join(sources, file)), name=file)
                parts.append(vectors[file])
            style = parts[0] if len(parts) == 1 else mix_styles(parts, [1.0] * len(parts), recipe.get("mix", "slerp"))
            statistics = None if style.statistics is None else style.statistics.cpu()  # kept: refine_steps needs them
            style = StyleVector(style.tensor.cpu(), model.fingerprint, model.config.name, recipe["name"], statistics)
            credits = [{"file": f, "credit": images[f]["credit"], "license": images[f]["license"]}
                       for f in recipe["sources"]]
            file = recipe["name"] + ".safetensors"
            save_style(style, os.path.join(staging, file),
                       source=f"{recipe.get('description', '')} — from {', '.join(recipe['sources'])}")
            entries.append({"name": recipe["name"], "file": file, "description": recipe.get("description", ""),
                            "sources": credits})
        write_index(staging, model.config.name, model.fingerprint, entries)
        old = None
        if os.path.lexists(out_dir):
            old = os.path.join(staging, ".replaced")
            os.rename(out_dir, old)
        os.chmod(staging, os.stat(parent).st_mode & 0o777)  # mkdtemp made it private; match the model folder
        os.rename(staging, out_dir)
        staging = None
        if old:
            shutil.rmtree(os.path.join(out_dir, ".replaced"), ignore_errors=True)
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    if log:
        log(f"[stylefusion] {len(entries)} presets of {model.display_name} ({len(vectors)} pictures) → {out_dir}")
    return entries


def apply_presets(model, photo, names: list[str], seed: int = 0) -> dict:
    """Each preset ``name`` applied at full strength to ``photo`` [1,3,H,W] → {name: image [1,3,H,W]}."""
    features = extract_features(model, photo)
    return {name: generate(model, features, load_preset(model, name), 1.0, False, seed) for name in names}


def _find_model(fingerprint: str):
    """The bundled or local model whose fingerprint is ``fingerprint``, or None."""
    for name in [*bundled_models(), *list_models()]:
        try:
            model = load_model(name, "cpu", "fp32")
        except StyleFusionError:
            continue
        if model.fingerprint == fingerprint:
            return model
    return None


def pack_files(folder: str, model=None, photo: str = SAMPLE_PHOTO) -> dict[str, bytes]:
    """What makes a folder of style files a style pack: ``presets.json`` (names, descriptions, credits, the model
    fingerprint) and ``thumbnails/<name>.jpg`` (each style applied to ``photo``), as repo path → bytes.

    All styles must come from one model: ``model``, or else the bundled or local model with their fingerprint.
    Descriptions and credits come from the folder's own presets.json when it has one (a built preset folder),
    else from each style file's metadata. The folder itself is not changed.
    """
    styles = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != THUMBNAILS_DIR)
        for name in sorted(names):
            if name.lower().endswith(".safetensors") and not name.startswith("."):
                path = os.path.join(root, name)
                styles[os.path.relpath(path, folder).replace(os.sep, "/")] = (load_style(path), path)
    if not styles:
        raise InputError(f"push-styles: {folder} holds no style files (.safetensors)")
    models = {(s.model_name, s.model_fingerprint) for s, _ in styles.values()}
    if len(models) > 1:
        shown = ", ".join(f"{n} [{f[:8]}]" for n, f in sorted(models))
        raise InputError(f"push-styles: a pack holds the styles of one model; {folder} mixes {shown}")
    (model_name, fingerprint), = models
    first = next(iter(styles.values()))[0]
    if model is None:
        model = _find_model(fingerprint)
        if model is None:
            raise InputError(f"push-styles: the styles were made by model {model_name} [{fingerprint[:8]}], which is "
                             "not bundled or in the models folder; give it with --model to render the thumbnails")
    check_same_model(model, first, "styles")
    known = {e["file"]: e for e in (read_index(folder) or {"presets": []})["presets"]}
    features = extract_features(model, _read_picture(photo))
    files, entries = {}, []
    for rel, (style, path) in styles.items():
        name = rel[: -len(".safetensors")]
        old = known.get(rel, {})
        source = read_safetensors(path)[1].get("source", "")
        first_vector = StyleVector(style.tensor[:1], style.model_fingerprint, style.model_name, style.name,
                                   None if style.statistics is None else style.statistics[:1])
        picture = to_pil(generate(model, features, first_vector, 1.0, False, 0))
        picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=85, optimize=True)
        thumbnail = f"{THUMBNAILS_DIR}/{name}.jpg"
        files[thumbnail] = buffer.getvalue()
        entries.append({"name": name, "file": rel, "description": old.get("description") or style.name,
                        "sources": old.get("sources") or ([{"credit": source}] if source else []),
                        "thumbnail": thumbnail})
    index = {"format": INDEX_FORMAT, "model_name": model_name, "model_fingerprint": fingerprint, "presets": entries}
    files[INDEX_NAME] = (json.dumps(index, indent=1, ensure_ascii=False) + "\n").encode()
    return files
