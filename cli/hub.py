"""``stylefusion push``, ``push-styles`` and ``download``: the Hugging Face Hub from the command line."""

from __future__ import annotations

import argparse
import os

from ..presets.build import SAMPLE_PHOTO, pack_files
from ..storage import hub_download as hub
from ..storage.hub_publish import push_model, push_styles
from ..storage.loading import load_model


def _publish_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("folder", metavar="DIR", help=what)
    p.add_argument("--repo-id", required=True, help="Hub repo owner/name (created if it does not exist)")
    p.add_argument("--private", action="store_true",
                   help="create the repo as private (an existing repo keeps its visibility)")
    p.add_argument("--revision", default=None, help="branch to commit to (created from main if needed; default main)")
    p.add_argument("--token", default=None, help="Hub token with write access (default: HF_TOKEN or `hf auth login`)")
    p.add_argument("--message", default=None, help="commit message")


def _print_push(result) -> None:
    print(f"[stylefusion] pushed {', '.join(result.files)} to {result.repo_id}@{result.revision} "
          f"(commit {result.commit[:12]}): {result.commit_url}")


# -- push -------------------------------------------------------------------------------------------
def _push_args(p: argparse.ArgumentParser) -> None:
    _publish_args(p, "model folder: config.json + model.safetensors (+ README.md model card)")


def _push(args: argparse.Namespace) -> int:
    _print_push(push_model(args.folder, args.repo_id, private=args.private, revision=args.revision,
                           token=args.token, commit_message=args.message))
    return 0


# -- push-styles ------------------------------------------------------------------------------------
def _push_styles_args(p: argparse.ArgumentParser) -> None:
    _publish_args(p, "folder of style .safetensors files of one model (sub-folders kept) + optional README.md, "
                     "e.g. a model's styles/ folder")
    p.add_argument("--model", default=None, help="the model that made the styles, to render the thumbnails "
                                                 "(default: the bundled or local model with their fingerprint)")
    p.add_argument("--photo", default=None, help="picture the thumbnails show each style on (default: the sample photo)")


def _push_styles(args: argparse.Namespace) -> int:
    model = load_model(args.model, "cpu", "fp32", allow_paths=True) if args.model else None
    extra = pack_files(args.folder, model, args.photo or SAMPLE_PHOTO)
    _print_push(push_styles(args.folder, args.repo_id, private=args.private, revision=args.revision,
                            token=args.token, commit_message=args.message, pack_files=extra))
    return 0


# -- download ---------------------------------------------------------------------------------------
def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source",
                   help="owner/name[@revision] (a model, or a style pack made by push-styles) or "
                        "owner/name[@revision]:path/in/repo.safetensors (one style)")
    p.add_argument("--models-dir", default=None,
                   help="models folder holding stylefusion/ and stylefusion_styles/ (e.g. ComfyUI/models; "
                        "default: $STYLEFUSION_MODELS_DIR or ~/.local/share/stylefusion/models)")
    p.add_argument("--update", action="store_true", help="fetch the revision again even if a copy is already there")
    p.add_argument("--token", default=None,
                   help="Hub token for private or gated repos (default: HF_TOKEN or `hf auth login`)")


def _download(args: argparse.Namespace) -> int:
    style = ":" in args.source
    if style:
        before = None if args.update else hub.local_style_path(args.source, args.models_dir)
        path = before or hub.ensure_style(args.source, models_dir=args.models_dir, update=args.update, token=args.token)
        record = hub.read_source_record(_style_repo_folder(path, args.source)) or {}
        commit = (record.get("files", {}).get(args.source.partition(":")[2]) or {}).get("commit", "")
        kind = "style"
    else:
        pack = None if args.update else hub.local_pack_path(args.source, args.models_dir)
        before = pack or (None if args.update else hub.local_model_path(args.source, args.models_dir))
        if before:
            path, kind = before, "style pack" if pack else "model"
        elif hub.is_style_pack(args.source, args.token):
            path, kind = hub.ensure_pack(args.source, models_dir=args.models_dir, update=args.update,
                                         token=args.token), "style pack"
        else:
            path, kind = hub.ensure_model(args.source, models_dir=args.models_dir, update=args.update,
                                          token=args.token), "model"
        commit = (hub.read_source_record(path) or {}).get("commit", "")
    state = "already there (use --update to fetch again)" if before else "downloaded"
    print(f"[stylefusion] {args.source}: {state}{f', commit {commit[:12]}' if commit else ''} → {path}")
    if kind == "style pack":
        print(f"[stylefusion] its presets are listed as {args.source}:<name> (StyleFusion Style Preset, "
              "`stylefusion styles list`), offline too")
    else:
        print(f"[stylefusion] use it offline as the {kind} source {args.source!r}")
    return 0


def _style_repo_folder(path: str, source: str) -> str:
    """``<styles>/owner--name[@rev]`` from the local path of ``owner/name[@rev]:a/b.safetensors``."""
    depth = source.partition(":")[2].count("/") + 1
    for _ in range(depth):
        path = os.path.dirname(path)
    return path


COMMANDS = {
    "push": (_push_args, _push,
             "upload a model folder (config.json, model.safetensors, README.md) to a Hugging Face Hub repo"),
    "push-styles": (_push_styles_args, _push_styles,
                    "upload a style pack (style files, presets.json, thumbnails) to a Hugging Face Hub repo"),
    "download": (_download_args, _download,
                 "fetch a model, a style pack or a style from the Hugging Face Hub for offline use"),
}
