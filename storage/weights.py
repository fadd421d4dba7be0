"""Weight files: safetensors in, safetensors out, atomically. Pickle-based files are refused.

``.pt/.pth/.ckpt/.bin`` files are Python pickles: loading one can run arbitrary code hidden in
it, which is how malicious "models" spread. StyleFusion never unpickles; it only reads
safetensors (plain tensors + JSON header) and JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..networks.errors import ModelFormatError

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle")


def refuse_pickle(path: str | os.PathLike) -> None:
    if os.fspath(path).lower().endswith(PICKLE_SUFFIXES):
        raise ModelFormatError(
            f"{os.fspath(path)}: only .safetensors weights are loaded. Pickle-based files "
            f"({', '.join(PICKLE_SUFFIXES)}) can execute code when opened, so StyleFusion refuses them; "
            "ask the author for a .safetensors file or convert it yourself in a trusted environment"
        )


#: Largest safetensors JSON header read (bytes). StyleFusion's headers are a few KB; safetensors
#: itself allows 100 MB, but parsing that much JSON costs gigabytes, so a hostile header is refused.
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: Largest JSON file (config.json, a workflow) read into memory; real ones are a few hundred KB.
MAX_JSON_BYTES = 64 * 1024 * 1024


def check_regular_file(path: str, what: str, error=ModelFormatError) -> int:
    """Size of ``path`` if it is a regular file (following symlinks); otherwise ``error`` naming it.

    FIFOs, devices (``/dev/zero``) and sockets are refused before they are opened: reading one hangs
    or never ends.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a folder; give a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is not a regular file (a pipe, device or socket); give a {what}")
    return info.st_size


def read_capped(path: str, limit: int, what: str, error=ModelFormatError) -> bytes:
    """The bytes of the regular file ``path``, refusing files over ``limit`` bytes (naming ``what``)."""
    size = check_regular_file(path, what, error)
    if size > limit:
        raise error(f"{path}: is {size / 2**20:.0f} MB, more than the {limit // 2**20} MB a {what} may have")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > limit:  # the file grew while being read
        raise error(f"{path}: is more than the {limit // 2**20} MB a {what} may have")
    return data


def read_header(path: str | os.PathLike) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """The header of a safetensors file without reading its tensors: ({name: (dtype, shape)}, metadata).

    The header length is capped (``MAX_HEADER_BYTES``) and every entry is checked to lie inside the
    file, so a damaged or hostile file is refused before anything large is allocated.
    """
    path = os.fspath(path)
    refuse_pickle(path)
    size = check_regular_file(path, "safetensors file")
    bad = f"{path}: not a safetensors file"
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            header_len = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
            if header_len <= 0 or header_len > size - 8:
                raise ModelFormatError(f"{bad} (bad header; truncated or another format)")
            if header_len > MAX_HEADER_BYTES:
                raise ModelFormatError(f"{bad}: its header claims {header_len} bytes, more than the "
                                       f"{MAX_HEADER_BYTES // 2**20} MB StyleFusion reads")
            header = json.loads(fh.read(header_len))
    except ModelFormatError:
        raise
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelFormatError(f"{bad} (unreadable header: {exc})") from None
    if not isinstance(header, dict):
        raise ModelFormatError(f"{bad}: its header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ModelFormatError(f"{bad}: its __metadata__ must map strings to strings")
    data_bytes = size - 8 - header_len
    entries = {}
    for name, entry in header.items():
        try:
            dtype, shape, (start, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            ok = (isinstance(dtype, str) and all(type(d) is int and d >= 0 for d in shape)
                  and type(start) is int and type(end) is int and 0 <= start <= end <= data_bytes)
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise ModelFormatError(f"{bad}: header entry {str(name)[:80]!r} is malformed or points outside the file; "
                                   "it may be truncated")
        entries[name] = (dtype, shape)
    return entries, metadata


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata of a safetensors file; any damage becomes a ModelFormatError."""
    path = os.fspath(path)
    _, metadata = read_header(path)
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFormatError(f"{path}: not a valid safetensors file ({exc}); it may be truncated") from None
    return tensors, metadata


def check_finite(source: str, tensors: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights or vectors holding NaN or infinity (they render black images), naming the first."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFormatError(f"{source}: tensor {name!r} holds NaN or infinite values; the file is damaged "
                                   "(or came from a diverged training run); use another file")


#: Characters of the target's name kept in a temporary file's name (the rest of 255 is the prefix).
_TMP_NAME_KEEP = 64


@contextmanager
def atomic_path(path: str | os.PathLike, exclusive: bool = False) -> Iterator[str]:
    """Yield a temporary path in the target's folder; move it to ``path`` only on success.

    A reader (or a run killed mid-write) never sees a half-written file under the final name. With
    ``exclusive`` the file is linked into place only if ``path`` does not exist yet (FileExistsError
    otherwise), so two writers can never overwrite each other's result.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # The temporary name keeps the target's tail (and so its extension) but never grows past the
    # file-name limit: a 240-character target would otherwise get a 262-character temporary name.
    tmp = os.path.join(folder, f".tmp-{secrets.token_hex(8)}-{os.path.basename(path)[-_TMP_NAME_KEEP:]}")
    # Created exclusively (no other writer gets the name) with the mode of any new file, 0666 less
    # the umask; mkstemp would make it 0600, and reading the umask means setting it process-wide.
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    mode = stat.S_IMODE(os.stat(tmp).st_mode)
    try:
        yield tmp
        os.chmod(tmp, mode)  # the writer may have put its own file there (safetensors writes 0600)
        if exclusive:
            _link_exclusively(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _link_exclusively(tmp: str, path: str) -> None:
    """Give the finished ``tmp`` the name ``path`` unless that name exists (FileExistsError)."""
    try:
        os.link(tmp, path)  # atomic and fails if ``path`` exists
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network or FAT file systems): claim the name first
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(tmp, path)


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> None:
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, tmp, metadata=dict(metadata or {}))


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
