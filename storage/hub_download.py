"""The Hugging Face Hub as a source of models, style packs and styles: find, download, validate, install.

Where files go (``<models>`` is ComfyUI's models folder, or ``$STYLEFUSION_MODELS_DIR``)::

    owner/name[@rev]                      → <models>/stylefusion/owner--name[@rev]/
                                              config.json, model.safetensors, README.md, .stylefusion-source.json
    owner/name[@rev]:styles/x.safetensors → <models>/stylefusion_styles/owner--name[@rev]/styles/x.safetensors
                                              (+ .stylefusion-source.json in owner--name[@rev]/)
    owner/pack[@rev] (a style pack: a repo   → <models>/stylefusion_styles/owner--pack[@rev]/
      with presets.json, see storage/presets.py)  presets.json, *.safetensors, thumbnails/*.jpg, README.md

``.stylefusion-source.json`` records the repo, the revision asked for, the commit actually downloaded
and each file's size and sha256.

The rules, in the order they apply:

1. Local first. If the folder (or style file) is already in any models folder, it is used and the
   network is not touched — a second load never makes a request. ``stylefusion download --update``
   is the explicit way to fetch a newer commit of an unpinned repo.
2. Offline (``HF_HUB_OFFLINE=1``) or the Hub unreachable: one ``ModelNotFoundError`` that names the
   repo, the command to run on a machine with internet and the folder to copy the files to.
3. Only a model repo's top-level ``config.json``, ``*.safetensors`` and ``README.md`` are fetched (for
   a style, only its one file; pickle files never), with ``huggingface_hub`` (progress on its tqdm
   bars, plus an optional ``progress(done, total)`` callback in bytes for ComfyUI's ProgressBar),
   pinned to the commit the revision resolved to.
4. Downloads land in a hidden staging folder next to the destination, are validated
   (``StyleFusionModel.from_pretrained`` / ``load_style``) and only then renamed into place. A bad
   download is deleted with its staging folder: it is never left where it would be picked up again.

Repo names are parsed in ``hub_names``, the client is set up in ``hub_client``; publishing is
``hub_publish``. Nothing here imports ``loading``: the loader calls ``ensure_model``, never the reverse.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from typing import Callable, Iterator

from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.utils import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import tqdm as hf_tqdm

from ..networks.errors import InputError, ModelFormatError, ModelNotFoundError
from ..networks.model import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, StyleFusionModel
from .hub_client import LIBRARY_NAME, hub_api, hub_endpoint, hub_offline, library_version, transport_errors
from .hub_names import HubSource, parse_hub_source, parse_style_source
from .paths import (MODELS_KIND, STYLES_KIND, folder_lock, folders, install_folder, relative_path_problem, safe_join,
                    staging_folder, write_folder)
from .presets import INDEX_NAME, THUMBNAILS_DIR, read_index
from .style_file import load_style
from .weights import PICKLE_SUFFIXES, read_safetensors

#: ``progress(bytes_done, bytes_total)``, called while files download (ComfyUI: ProgressBar.update_absolute).
ProgressCallback = Callable[[int, int], None]

#: The only files taken from a model repo, all at its top level (sub-folders such as styles/ or
#: checkpoints/ are not part of the model; fetch a style from them with ``owner/name:path``).
MODEL_PATTERNS = (CONFIG_NAME, "*.safetensors", CARD_NAME)
#: Written next to downloaded files: repo, requested revision, commit, file hashes.
SOURCE_RECORD = ".stylefusion-source.json"
_OFFLINE_REASON = "HF_HUB_OFFLINE is set, so the Hugging Face Hub is not contacted"


# -- names ------------------------------------------------------------------------------------------
def _as_hub_source(source: HubSource | str) -> HubSource:
    if isinstance(source, HubSource):
        return source
    parsed = parse_hub_source(source)
    if parsed is None:
        raise InputError(f"model: {source!r} is not a Hub repo; expected owner/name or owner/name@revision")
    return parsed


def _require_style_source(text: str) -> tuple[HubSource, str]:
    parsed = parse_style_source(text)
    if parsed is None:
        raise InputError(f"style: {text!r} is not a Hub style source; "
                         "expected owner/name[@revision]:path/in/repo.safetensors")
    return parsed


# -- local copies -----------------------------------------------------------------------------------
def _is_complete_model(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, CONFIG_NAME)) and os.path.isfile(os.path.join(folder, WEIGHTS_NAME))


def _is_pack(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, INDEX_NAME))


def _local_copy(kind: str, name: str, what: str, installed: Callable[[str], bool], models_dir: str | None) -> str | None:
    """The first ``<folder>/name`` among the folders of ``kind`` that is ``installed``; never touches the network."""
    for folder in folders(kind, models_dir):
        path = safe_join(folder, name, what)
        if installed(path):
            return path
    return None


def local_model_path(source: HubSource | str, models_dir: str | None = None) -> str | None:
    """The downloaded folder of ``source`` if one is complete in any models folder; never touches the network."""
    return _local_copy(MODELS_KIND, _as_hub_source(source).folder_name, "model", _is_complete_model, models_dir)


def local_style_path(text: str, models_dir: str | None = None) -> str | None:
    """The downloaded file of a Hub style source if present in any styles folder; never touches the network."""
    source, path = _require_style_source(text)
    return _local_copy(STYLES_KIND, f"{source.folder_name}/{path}", "style", os.path.isfile, models_dir)


def local_pack_path(source: HubSource | str, models_dir: str | None = None) -> str | None:
    """The downloaded folder of style pack ``source`` if present in any styles folder; never touches the network."""
    return _local_copy(STYLES_KIND, _as_hub_source(source).folder_name, "style pack", _is_pack, models_dir)


def read_source_record(folder: str) -> dict | None:
    """The ``.stylefusion-source.json`` of a downloaded folder, or None."""
    try:
        with open(os.path.join(folder, SOURCE_RECORD), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


# -- ensure_model / ensure_style / ensure_pack ------------------------------------------------------
def ensure_model(source: HubSource | str, *, models_dir: str | None = None, update: bool = False,
                 token: str | bool | None = None, progress: ProgressCallback | None = None) -> str:
    """Local folder of Hub model ``source``, downloading and validating it first if it is not there yet.

    ``update`` fetches the revision again even if a copy exists (the CLI's ``download --update``).
    """
    source = _as_hub_source(source)

    def fetch(info, target: str) -> None:
        _fetch_folder(source, info, _model_files(source, info), target, "model", str(source), token, progress,
                      _validate_model, _is_complete_model)

    return _ensure("model", str(source), source, MODELS_KIND, source.folder_name, _is_complete_model, fetch,
                   models_dir=models_dir, update=update, token=token)


def ensure_style(text: str, *, models_dir: str | None = None, update: bool = False, token: str | bool | None = None,
                 progress: ProgressCallback | None = None) -> str:
    """Local ``.safetensors`` path of Hub style ``owner/name[@revision]:path/in/repo.safetensors``.

    Downloaded once into ``<models>/stylefusion_styles/owner--name[@revision]/path/in/repo.safetensors``,
    checked with ``load_style`` before it is moved there.
    """
    source, path = _require_style_source(text)
    what, label = "style", f"{source}:{path}"
    command = f"stylefusion download {source}:{path}"

    def fetch(info, target: str) -> None:
        names = [s.rfilename for s in info.siblings or []]
        if path not in names:
            available = [n for n in names if n.lower().endswith(".safetensors")]
            raise ModelNotFoundError(
                f"style: Hub repo {source} (commit {info.sha[:12]}) has no file {path!r}; "
                f"its .safetensors files: {', '.join(available[:20]) or 'none'}"
            )
        styles = write_folder(STYLES_KIND, models_dir)
        with staging_folder(styles) as staging:
            local_files = os.path.join(staging, "files")
            _download(source, info.sha, [path], local_files, os.path.join(staging, "hf-cache"), what, label, target,
                      token, progress, sizes={s.rfilename: s.size for s in info.siblings or []}, command=command)
            downloaded = os.path.join(local_files, *path.split("/"))
            try:
                load_style(downloaded)
            except (ModelFormatError, ValueError) as exc:
                raise ModelFormatError(
                    f"style: {source}:{path} (commit {info.sha[:12]}) is not a usable StyleFusion style file, so it was "
                    f"not installed: {_strip_prefix(exc, local_files)}"
                ) from None
            facts = _file_facts(downloaded)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(downloaded, target)
            repo_folder = safe_join(styles, source.folder_name, "style")
            record = read_source_record(repo_folder) or {"repo_id": source.repo_id, "revision": source.revision}
            record.setdefault("files", {})[path] = {**facts, "commit": info.sha, "endpoint": hub_endpoint(),
                                                    "downloaded_at": _now()}
            _write_record(repo_folder, record)

    return _ensure(what, label, source, STYLES_KIND, f"{source.folder_name}/{path}", os.path.isfile, fetch,
                   models_dir=models_dir, update=update, token=token, command=command)


def ensure_pack(source: HubSource | str, *, models_dir: str | None = None, update: bool = False,
                token: str | bool | None = None, progress: ProgressCallback | None = None) -> str:
    """Local folder of Hub style pack ``source``, downloaded whole (index, styles, thumbnails, card) and
    validated first if it is not there yet: ``<models>/stylefusion_styles/owner--name[@rev]/``."""
    source = _as_hub_source(source)

    def fetch(info, target: str) -> None:
        names = [s.rfilename for s in info.siblings or []]
        if INDEX_NAME not in names:
            raise ModelFormatError(f"style pack: Hub repo {source} (commit {info.sha[:12]}) has no {INDEX_NAME}, so it "
                                   "is not a StyleFusion style pack (push one with `stylefusion push-styles`)")
        files = [n for n in names if relative_path_problem(n) is None and (
            n in (INDEX_NAME, CARD_NAME) or n.lower().endswith(".safetensors")
            or (n.startswith(THUMBNAILS_DIR + "/") and n.lower().endswith(".jpg")))]
        _fetch_folder(source, info, files, target, "style pack", str(source), token, progress, _validate_pack, _is_pack)

    return _ensure("style pack", str(source), source, STYLES_KIND, source.folder_name, _is_pack, fetch,
                   models_dir=models_dir, update=update, token=token)


def _ensure(what: str, label: str, source: HubSource, kind: str, name: str, installed: Callable[[str], bool],
            fetch: Callable[[object, str], None], *, models_dir: str | None, update: bool, token,
            command: str | None = None) -> str:
    """The steps every download shares; returns the local path.

    Local first: a copy at ``<folder of kind>/name`` that is ``installed`` is used as it is (unless
    ``update``). Offline: one error saying what to run and where to copy the files. Online: one download
    per target at a time (another thread may have installed it while we waited), ``fetch(info, target)``
    given the repo's file list at the commit the revision resolves to.
    """
    local = None if update else _local_copy(kind, name, what, installed, models_dir)
    if local:
        return local
    target = safe_join(write_folder(kind, models_dir), name, what)
    if hub_offline():
        if update and installed(target):
            raise ModelNotFoundError(f"{what}: cannot look for a newer commit of {label} because HF_HUB_OFFLINE "
                                     f"is set; the copy in {target} is unchanged")
        raise _unavailable(what, label, source, target, _OFFLINE_REASON, command)
    with folder_lock(target):
        if update or not installed(target):
            with _hub_errors(what, label, source, target, command):
                info = _repo_info(hub_api(token), source)
            fetch(info, target)
    return target


def is_style_pack(source: HubSource | str, token: str | bool | None = None) -> bool:
    """Whether Hub repo ``source`` is a style pack (has a top-level presets.json). False when offline."""
    source = _as_hub_source(source)
    if hub_offline():
        return False
    with _hub_errors("model", str(source), source, safe_join(folders(MODELS_KIND)[0], source.folder_name)):
        info = _repo_info(hub_api(token), source)
    return INDEX_NAME in [s.rfilename for s in info.siblings or []]


def _fetch_folder(source: HubSource, info, files: list[str], target: str, what: str, label: str, token,
                  progress: ProgressCallback | None, validate: Callable[[str, HubSource, str], None],
                  installed: Callable[[str], bool]) -> None:
    """Download ``files`` at the resolved commit into a staging folder, ``validate`` them, record where they came
    from, and only then move the folder to ``target`` (a model folder or a style pack; one another process
    ``installed`` meanwhile is kept)."""
    with staging_folder(os.path.dirname(target)) as staging:
        local_files = os.path.join(staging, "files")
        _download(source, info.sha, files, local_files, os.path.join(staging, "hf-cache"), what, label, target,
                  token, progress, sizes={s.rfilename: s.size for s in info.siblings or []})
        validate(local_files, source, info.sha)
        _write_record(local_files, {
            "repo_id": source.repo_id, "revision": source.revision, "commit": info.sha,
            "endpoint": hub_endpoint(), "downloaded_at": _now(),
            "files": {name: _file_facts(os.path.join(local_files, *name.split("/"))) for name in files},
        })
        install_folder(local_files, target, staging, installed)


def _validate_pack(folder: str, source: HubSource, commit: str) -> None:
    """Refuse a pack whose index is broken or whose styles are unreadable or of another model than it says."""
    try:
        index = read_index(folder)
        for entry in index["presets"]:
            style = load_style(safe_join(folder, entry["file"], "style"))
            if style.model_fingerprint != index.get("model_fingerprint"):
                raise ModelFormatError(f"{entry['file']} was made by model {style.model_name} "
                                       f"[{style.model_fingerprint[:8]}], not by the model {INDEX_NAME} names")
    except (ModelFormatError, InputError, ValueError, OSError) as exc:
        raise ModelFormatError(
            f"style pack: the files of Hub repo {source} (commit {commit[:12]}) are not a usable StyleFusion style "
            f"pack, so nothing was installed: {_strip_prefix(exc, folder)}"
        ) from None


# -- download steps ---------------------------------------------------------------------------------
def _repo_info(api: HfApi, source: HubSource):
    """Repo info at the requested revision: the commit it resolves to and the file list (with sizes)."""
    info = api.model_info(source.repo_id, revision=source.revision, files_metadata=True)
    if not info.sha:
        raise ModelNotFoundError(f"Hub repo {source}: the Hub did not say which commit {source.revision or 'main'} is")
    return info


def _model_files(source: HubSource, info) -> list[str]:
    """The repo files to fetch (config.json, *.safetensors, README.md); refuses repos that cannot be a model."""
    names = [s.rfilename for s in info.siblings or []]
    wanted = [n for n in names if "/" not in n and relative_path_problem(n) is None
              and any(fnmatch.fnmatch(n, p) for p in MODEL_PATTERNS)]
    if WEIGHTS_NAME in wanted and CONFIG_NAME in wanted:
        return wanted
    pickles = [n for n in names if n.lower().endswith(PICKLE_SUFFIXES)]
    if WEIGHTS_NAME not in wanted and pickles:
        raise ModelFormatError(
            f"model: Hub repo {source} has only pickle weights ({', '.join(pickles[:3])}) and no {WEIGHTS_NAME}. "
            f"StyleFusion loads only .safetensors: pickle files ({', '.join(PICKLE_SUFFIXES)}) can execute code when "
            "opened. Ask the author to publish model.safetensors (or convert it yourself in a trusted environment)"
        )
    missing = " and ".join(n for n in (CONFIG_NAME, WEIGHTS_NAME) if n not in wanted)
    raise ModelFormatError(
        f"model: Hub repo {source} (commit {info.sha[:12]}) is not a StyleFusion model: it has no {missing} "
        f"(files: {', '.join(names[:20]) or 'none'})"
    )


def _download(source: HubSource, commit: str, files: list[str], local_dir: str, cache_dir: str, what: str, label: str,
              target: str, token, progress: ProgressCallback | None, sizes: dict[str, int | None] | None = None,
              command: str | None = None) -> None:
    """Fetch ``files`` at ``commit`` into ``local_dir`` with huggingface_hub (tqdm bars + ``progress``)."""
    tqdm_class = _progress_bar_class(progress, sum((sizes or {}).get(f) or 0 for f in files)) if progress else None
    for name in files:
        with _hub_errors(what, label, source, target, command):
            hf_hub_download(source.repo_id, name, revision=commit, local_dir=local_dir, cache_dir=cache_dir,
                            endpoint=hub_endpoint(), token=token, library_name=LIBRARY_NAME,
                            library_version=library_version(), tqdm_class=tqdm_class)
    shutil.rmtree(os.path.join(local_dir, ".cache"), ignore_errors=True)  # huggingface_hub's local_dir bookkeeping


def _validate_model(folder: str, source: HubSource, commit: str) -> None:
    """Refuse downloaded files that are not a loadable model (bad safetensors, other config format, wrong shapes)."""
    try:
        StyleFusionModel.from_pretrained(folder)
        for name in sorted(os.listdir(folder)):  # other .safetensors files must at least be intact
            if name.lower().endswith(".safetensors") and name != WEIGHTS_NAME:
                read_safetensors(os.path.join(folder, name))
    except (ModelFormatError, ValueError, RuntimeError) as exc:
        raise ModelFormatError(
            f"model: the files of Hub repo {source} (commit {commit[:12]}) are not a usable StyleFusion model, so "
            f"nothing was installed: {_strip_prefix(exc, folder)}. Ask the author to fix the repo, or pin a working "
            "revision with owner/name@revision"
        ) from None


def _progress_bar_class(progress: ProgressCallback, total: int) -> type:
    """A huggingface_hub tqdm class that also reports the bytes of all files to ``progress``."""
    state = {"done": 0}

    class _ReportingBar(hf_tqdm):
        def update(self, n=1):
            result = super().update(n)
            state["done"] += int(n or 0)
            progress(state["done"], max(total, state["done"]))
            return result

    return _ReportingBar


def _write_record(folder: str, record: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, SOURCE_RECORD + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(folder, SOURCE_RECORD))


def _file_facts(path: str) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"size": os.path.getsize(path), "sha256": digest.hexdigest()}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _strip_prefix(exc: BaseException, folder: str) -> str:
    """The error text with the staging folder removed, so it names repo files, not temp paths."""
    return str(exc).replace(os.path.abspath(folder) + os.sep, "").replace(folder + os.sep, "")


# -- errors -----------------------------------------------------------------------------------------
def _unavailable(what: str, label: str, source: HubSource, target: str, reason: str,
                 command: str | None = None) -> ModelNotFoundError:
    """The one error for "not here and cannot be fetched now": what to run, and where the files must go."""
    is_model = what == "model"
    command = command or f"stylefusion download {source}"
    state = ""
    if is_model and os.path.isdir(target) and not _is_complete_model(target):
        state = f" ({target} exists but lacks {CONFIG_NAME} or {WEIGHTS_NAME})"
    files = f"the repo's {', '.join(MODEL_PATTERNS)}" if is_model else "that file"
    return ModelNotFoundError(
        f"{what} {label} is not downloaded yet{state} and {reason}. On a machine with internet run `{command}` "
        f"(or download {files} from {hub_endpoint()}/{source.repo_id}) and copy it to {target}"
    )


@contextmanager
def _hub_errors(what: str, label: str, source: HubSource, target: str, command: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub / network exceptions into one StyleFusion error that says what to do."""
    try:
        yield
    except RevisionNotFoundError:
        raise ModelNotFoundError(
            f"{what}: Hub repo {source.repo_id} has no revision {source.revision!r}; use an existing branch, tag or "
            "commit after '@'"
        ) from None
    except GatedRepoError:
        raise ModelNotFoundError(
            f"{what}: Hub repo {source.repo_id} is gated; accept its terms on {hub_endpoint()}/{source.repo_id} "
            "and log in (`hf auth login`) or set HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"{what}: Hub repo {source.repo_id} was not found at {hub_endpoint()} (check the spelling; a private repo "
            "needs a token: `hf auth login` or HF_TOKEN)"
        ) from None
    except DisabledRepoError:
        raise ModelNotFoundError(f"{what}: Hub repo {source.repo_id} has been disabled by the Hub") from None
    except LocalEntryNotFoundError as exc:  # huggingface_hub's "could not reach the Hub and no local copy"
        cause = exc.__cause__ or exc
        detail = str(cause).splitlines()[0] if str(cause) else ""
        reason = f"the Hub at {hub_endpoint()} could not be reached while downloading ({cause.__class__.__name__}: {detail})"
        raise _unavailable(what, label, source, target, reason, command) from None
    except EntryNotFoundError as exc:
        raise ModelNotFoundError(f"{what}: a file listed in Hub repo {source} could not be fetched ({exc})") from None
    except HFValidationError as exc:
        raise InputError(f"{what}: {exc}") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        reason = f"the Hub answered HTTP {status} ({str(exc).splitlines()[0]})"
        raise _unavailable(what, label, source, target, reason, command) from None
    except transport_errors() as exc:
        if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
            raise ModelFormatError(f"{what}: a file of {label} arrived incomplete ({exc}); nothing was installed, "
                                   "try again") from None
        reason = f"the Hub at {hub_endpoint()} cannot be reached ({exc.__class__.__name__})"
        raise _unavailable(what, label, source, target, reason, command) from None
