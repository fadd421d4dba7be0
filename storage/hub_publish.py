"""Publishing to the Hugging Face Hub: a model folder (``push_model``) or a style pack (``push_styles``).

Only what was checked is uploaded: a model folder must load with ``StyleFusionModel.from_pretrained``,
every style file with ``load_style``; the files are staged in a temporary folder and sent as one
commit. Downloading is ``hub_download``'s job.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

from huggingface_hub import constants
from huggingface_hub.utils import HfHubHTTPError

from ..networks.errors import InputError, ModelFormatError, StyleFusionError
from ..networks.model import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, StyleFusionModel, default_card
from ..networks.values import StyleVector
from .hub_client import hub_api, hub_endpoint, hub_offline, transport_errors
from .hub_names import HubSource, parse_hub_source
from .paths import relative_path_problem
from .style_file import load_style


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    revision: str
    commit: str
    commit_url: str
    files: tuple[str, ...]


def push_model(model_dir: str, repo_id: str, *, private: bool = False, revision: str | None = None,
               token: str | bool | None = None, commit_message: str | None = None) -> PushResult:
    """Upload a model folder (config.json, model.safetensors, README.md only) to Hub repo ``repo_id``.

    The folder must load with ``StyleFusionModel.from_pretrained``; a missing README.md is replaced by
    the default model card. The repo (and ``revision`` as a branch) is created if needed.
    """
    repo = _parse_repo_id(repo_id)
    folder = os.path.abspath(os.path.expanduser(model_dir))
    if not os.path.isdir(folder):
        raise InputError(f"push: {model_dir} is not a folder; give a model folder holding {CONFIG_NAME} and "
                         f"{WEIGHTS_NAME}")
    try:
        model = StyleFusionModel.from_pretrained(folder)
    except (ModelFormatError, ValueError, RuntimeError) as exc:
        raise ModelFormatError(f"push: refusing to upload {folder}: it is not a valid StyleFusion model ({exc})") from None
    files: dict[str, str | bytes] = {name: os.path.join(folder, name) for name in (CONFIG_NAME, WEIGHTS_NAME)}
    card = os.path.join(folder, CARD_NAME)
    files[CARD_NAME] = card if os.path.isfile(card) else default_card(model.config, model.fingerprint).encode()
    message = commit_message or f"Upload StyleFusion model {model.display_name}"
    return _upload(repo, files, private=private, revision=revision, token=token, commit_message=message)


def push_styles(styles_dir: str, repo_id: str, *, private: bool = False, revision: str | None = None,
                token: str | bool | None = None, commit_message: str | None = None,
                pack_files: dict[str, bytes] | None = None) -> PushResult:
    """Upload a style pack: every ``.safetensors`` style under ``styles_dir`` (sub-folders kept) + README.md.

    Every ``.safetensors`` file must be a valid style file (``load_style``); other files are not uploaded.
    Without a README.md, a card listing the styles and how to load them is generated. ``pack_files``
    (repo path → bytes: ``presets.json`` and ``thumbnails/*.jpg``, made by ``presets/build.py``'s ``pack_files``)
    make the repo a style pack that ``stylefusion download owner/name`` fetches whole.
    """
    repo = _parse_repo_id(repo_id)
    folder = os.path.abspath(os.path.expanduser(styles_dir))
    if not os.path.isdir(folder):
        raise InputError(f"push-styles: {styles_dir} is not a folder of style files")
    styles: dict[str, StyleVector] = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or not name.lower().endswith(".safetensors"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            problem = relative_path_problem(rel)
            if problem:
                raise InputError(f"push-styles: {rel} {problem}; rename it")
            try:
                styles[rel] = load_style(path)
            except (ModelFormatError, ValueError) as exc:
                raise ModelFormatError(
                    f"push-styles: refusing to upload {folder}: {rel} is not a valid StyleFusion style file ({exc}); "
                    "fix or remove it"
                ) from None
    if not styles:
        raise ModelFormatError(
            f"push-styles: refusing to upload {folder}: it holds no style files (.safetensors written by "
            "StyleFusionSaveStyle)"
        )
    files: dict[str, str | bytes] = {rel: os.path.join(folder, *rel.split("/")) for rel in styles}
    for rel, content in (pack_files or {}).items():
        problem = relative_path_problem(rel)
        if problem or rel in files:
            raise InputError(f"push-styles: pack file {rel} {problem or 'would replace a style file'}")
        files[rel] = content
    card = os.path.join(folder, CARD_NAME)
    files[CARD_NAME] = card if os.path.isfile(card) else _styles_card(repo.repo_id, styles).encode()
    message = commit_message or f"Upload {len(styles)} StyleFusion style(s)"
    return _upload(repo, files, private=private, revision=revision, token=token, commit_message=message)


def _parse_repo_id(repo_id: str) -> HubSource:
    repo = parse_hub_source(repo_id or "")
    if repo is None or repo.revision:
        raise InputError(f"--repo-id: {repo_id!r} must be owner/name (give a branch with --revision)")
    return repo


def _styles_card(repo_id: str, styles: dict[str, StyleVector]) -> str:
    rows = "\n".join(f"| `{rel}` | {s.name} | {s.model_name} | `{s.model_fingerprint[:16]}` |"
                     for rel, s in styles.items())
    first = next(iter(styles))
    return (
        "---\nlibrary_name: comfyui-stylefusion\ntags:\n- style-transfer\n- comfyui\n- stylefusion-styles\n---\n"
        f"# StyleFusion styles\n\nDownload the whole pack with `stylefusion download {repo_id}`; its styles then appear "
        f"in StyleFusionStylePreset as `{repo_id}:<name>`. Or load one file with StyleFusionLoadStyle: "
        f"`{repo_id}:{first}`.\n"
        "A style only works with the model it was made by (fingerprint below).\n\n"
        f"| file | style | model | model fingerprint |\n|---|---|---|---|\n{rows}\n"
    )


def _upload(repo: HubSource, files: dict[str, str | bytes], *, private: bool, revision: str | None,
            token: str | bool | None, commit_message: str) -> PushResult:
    """Stage exactly ``files`` (repo path → local path or bytes) and upload them as one commit."""
    if hub_offline():
        raise StyleFusionError("push: HF_HUB_OFFLINE is set; publishing needs the network (unset HF_HUB_OFFLINE)")
    if revision is not None and (parse_hub_source(f"{repo.repo_id}@{revision}") is None):
        raise InputError(f"--revision: {revision!r} is not a valid branch name")
    api = hub_api(token)
    with tempfile.TemporaryDirectory(prefix="stylefusion-push-") as staging:
        for rel, content in files.items():
            dest = os.path.join(staging, *rel.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if isinstance(content, bytes):
                with open(dest, "wb") as fh:
                    fh.write(content)
            else:
                _link_or_copy(content, dest)
        try:
            api.create_repo(repo.repo_id, private=True if private else None, exist_ok=True)
            if revision and revision != constants.DEFAULT_REVISION:
                api.create_branch(repo.repo_id, branch=revision, exist_ok=True)
            info = api.upload_folder(repo_id=repo.repo_id, folder_path=staging, revision=revision,
                                     commit_message=commit_message)
        except HfHubHTTPError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", "?")
            hint = (" — log in with `hf auth login`, set HF_TOKEN or pass --token with write access"
                    if status in (401, 403) else "")
            raise StyleFusionError(f"push: the Hub refused the upload to {repo.repo_id} (HTTP {status}){hint}: "
                                   f"{str(exc).splitlines()[0]}") from None
        except transport_errors() as exc:
            raise StyleFusionError(f"push: the Hub at {hub_endpoint()} cannot be reached "
                                   f"({exc.__class__.__name__}: {exc})") from None
    return PushResult(repo.repo_id, revision or constants.DEFAULT_REVISION, info.oid, info.commit_url, tuple(files))


def _link_or_copy(src: str, dest: str) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
