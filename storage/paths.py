"""Where models and styles live, the rules for names inside those places, and how folders are written.

Two kinds of folders: ``stylefusion`` (models: folders or single ``.safetensors`` files) and
``stylefusion_styles`` (style files). Inside ComfyUI the nodes register them with
``folder_paths`` and install a provider here (see ``set_folder_provider``); everywhere else they
are ``$STYLEFUSION_MODELS_DIR/stylefusion`` and ``$STYLEFUSION_MODELS_DIR/stylefusion_styles``,
with ``STYLEFUSION_MODELS_DIR`` defaulting to ``~/.local/share/stylefusion/models``
(``$XDG_DATA_HOME/stylefusion/models`` when that is set).

The rules, each in one place: a name from a user or a workflow stays inside its folder
(``safe_join``, ``is_inside``); a path taken from a Hub repo is mirrored only if it is plainly
relative (``relative_path_problem``); a folder is assembled in a hidden staging folder beside its
destination and moved into place whole (``staging_folder``, ``install_folder``), one writer per
destination at a time within a process (``folder_lock``). Single files are written atomically by
``storage/weights.py``'s ``atomic_path``.

Nothing in this module imports ComfyUI: the nodes layer passes ComfyUI's folders in.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from ..networks.errors import InputError

MODELS_KIND = "stylefusion"
STYLES_KIND = "stylefusion_styles"
KINDS = (MODELS_KIND, STYLES_KIND)

#: kind → list of folders, first = where downloads and saved styles go.
FolderProvider = Callable[[str], list[str]]
_provider: FolderProvider | None = None

BUNDLED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "pretrained")


def default_models_root() -> str:
    env = os.environ.get("STYLEFUSION_MODELS_DIR")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "stylefusion", "models")


def set_folder_provider(provider: FolderProvider | None) -> None:
    """Let the host application (ComfyUI) say where each kind of folder is."""
    global _provider
    _provider = provider


def folders(kind: str, models_dir: str | None = None) -> list[str]:
    """Search folders for ``kind``, the first being the one written to.

    With ``models_dir`` (a command's ``--models-dir``), only ``models_dir/kind``, or ``models_dir`` itself
    if it already is that folder (e.g. ``ComfyUI/models/stylefusion``).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}")
    if models_dir is not None:
        root = os.path.abspath(os.path.expanduser(models_dir))
        return [root if os.path.basename(root.rstrip(os.sep)) == kind else os.path.join(root, kind)]
    if _provider is not None:
        found = [os.path.abspath(f) for f in _provider(kind) if f]
        if found:
            return found
    return [os.path.join(default_models_root(), kind)]


def write_folder(kind: str, models_dir: str | None = None) -> str:
    """The folder new files of ``kind`` go to (see ``folders``), created if missing."""
    folder = folders(kind, models_dir)[0]
    os.makedirs(folder, exist_ok=True)
    return folder


def is_inside(base: str, path: str) -> bool:
    """Whether ``path`` is ``base`` or below it, judged lexically (a symlink inside ``base`` stays the
    user's to use)."""
    base, path = os.path.abspath(base), os.path.abspath(path)
    return os.path.commonpath([base, path]) == base


def _has_control_characters(name: str) -> bool:
    return any(ord(ch) < 32 or ch == "\x7f" for ch in name)


def safe_join(base: str, name: str, what: str = "name") -> str:
    """``base/name`` if it stays inside ``base``; otherwise an InputError naming ``what``.

    Refuses absolute paths, ``..`` components, drive letters, NUL and control characters, so names
    from workflows or users can never point outside the models folders.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{what}: is empty")
    if _has_control_characters(name):
        raise InputError(f"{what}: {name!r} contains control characters")
    normalized = name.replace("\\", "/")
    parts = normalized.split("/")
    if normalized.startswith("/") or (len(parts[0]) == 2 and parts[0][1] == ":") or any(p in ("..",) for p in parts):
        raise InputError(f"{what}: {name!r} must be a plain name inside the models folder (no '..' or absolute paths)")
    # Checked lexically, not after resolving symlinks: the name itself can never leave ``base``, and
    # a symlink the user put inside the models folder is theirs to use (it is listed, so it loads).
    path = os.path.normpath(os.path.join(os.path.abspath(base), *[p for p in parts if p not in ("", ".")]))
    if not is_inside(base, path):
        raise InputError(f"{what}: {name!r} points outside {base}")
    return path


def relative_path_problem(path: str) -> str | None:
    """Why ``path``, a file path inside a Hub repo, is unsafe to mirror locally, or None if it is fine.

    Stricter than ``safe_join``: only '/' separators, no '.', '..', empty or hidden segments, so the
    local copy has exactly the repo's names.
    """
    if not path or path != path.strip():
        return "is empty or has surrounding spaces"
    if _has_control_characters(path):
        return "contains control characters"
    if "\\" in path or ":" in path or path.startswith("/"):
        return "must be a relative path with '/' separators (no '\\', ':' or leading '/')"
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "must not contain '..', '.' or empty path segments"
    if any(p.startswith(".") for p in parts):
        return "must not contain hidden ('.…') names"
    return None


@contextmanager
def staging_folder(parent: str) -> Iterator[str]:
    """A hidden temporary folder inside ``parent`` (same filesystem, so renames are atomic); always removed."""
    os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix=".download-", dir=parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def install_folder(staged: str, target: str, staging: str, is_complete: Callable[[str], bool]) -> None:
    """Move the finished folder ``staged`` to ``target``, replacing an old or incomplete copy.

    The old copy is moved into ``staging`` (a ``staging_folder``, deleted with it). If another process
    installed a complete copy (``is_complete``) in between, theirs is kept.
    """
    if os.path.lexists(target):
        os.rename(target, os.path.join(staging, "replaced"))
    try:
        os.rename(staged, target)
    except OSError:
        if not is_complete(target):
            raise


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextmanager
def folder_lock(target: str) -> Iterator[None]:
    """One writer per destination at a time within this process (two nodes asking for the same repo)."""
    with _locks_guard:
        lock = _locks.setdefault(target, threading.Lock())
    with lock:
        yield


def walk_files(root: str) -> Iterator[str]:
    """Paths of the regular files under ``root``, sorted, following symlinked folders but entering each
    real folder once: a symlink loop neither hangs the walk nor counts its files again. Hidden
    (dot) folders are skipped; FIFOs, devices and sockets are left out."""
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except OSError:  # a dangling symlink
                regular = False
            if regular:
                yield path


def list_models() -> list[str]:
    """Names of local models: sub-folders holding model.safetensors and top-level .safetensors files."""
    names: list[str] = []
    for folder in folders(MODELS_KIND):
        if not os.path.isdir(folder):
            continue
        for entry in sorted(os.listdir(folder)):
            full = os.path.join(folder, entry)
            if entry.startswith("."):
                continue
            if os.path.isdir(full) and os.path.isfile(os.path.join(full, "model.safetensors")):
                names.append(entry)
            elif os.path.isfile(full) and entry.lower().endswith(".safetensors"):
                names.append(entry)
    return sorted(dict.fromkeys(names))


def list_styles() -> list[str]:
    names: list[str] = []
    for folder in folders(STYLES_KIND):
        if not os.path.isdir(folder):
            continue
        for path in walk_files(folder):
            if path.lower().endswith(".safetensors") and not os.path.basename(path).startswith("."):
                names.append(os.path.relpath(path, folder).replace(os.sep, "/"))
    return sorted(dict.fromkeys(names))


def find_in(kind: str, name: str) -> str | None:
    """The first existing ``folder/name`` among the folders of ``kind`` (safely joined)."""
    for folder in folders(kind):
        path = safe_join(folder, name, "model" if kind == MODELS_KIND else "style")
        if os.path.exists(path):
            return path
    return None


def bundled_models() -> dict[str, str]:
    """Models shipped with the pack: name → folder (the default first)."""
    if not os.path.isdir(BUNDLED_DIR):
        return {}
    found = {d: os.path.join(BUNDLED_DIR, d) for d in sorted(os.listdir(BUNDLED_DIR))
             if os.path.isfile(os.path.join(BUNDLED_DIR, d, "model.safetensors"))}
    default = DEFAULT_MODEL if DEFAULT_MODEL in found else None
    if default:
        found = {default: found.pop(default), **found}
    return found


#: The bundled model used when no other is chosen.
DEFAULT_MODEL = "stylefusion-v2"
