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

from .errors import ModelFormatError

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle")


def refuse_pickle(path: str | os.PathLike) -> None:
    if os.fspath(path).lower().endswith(PICKLE_SUFFIXES):
        raise ModelFormatError(
            f"{os.fspath(path)}: only .safetensors weights are loaded. Pickle-based files "
            f"({', '.join(PICKLE_SUFFIXES)}) can execute code when opened, so StyleFusion refuses them; "
            "ask the author for a .safetensors file or convert it yourself in a trusted environment"
        )


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata of a safetensors file; any damage becomes a ModelFormatError."""
    path = os.fspath(path)
    refuse_pickle(path)
    if not os.path.isfile(path):
        raise ModelFormatError(f"{path}: file not found")
    try:
        with open(path, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            if header_len <= 0 or header_len > os.path.getsize(path) - 8:
                raise ModelFormatError(f"{path}: not a safetensors file (bad header; truncated or another format)")
            metadata = json.loads(fh.read(header_len)).get("__metadata__") or {}
        tensors = load_file(path)
    except ModelFormatError:
        raise
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: not a valid safetensors file ({exc}); it may be truncated") from None
    return tensors, metadata


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path in the target's folder; rename it over ``path`` only on success."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{secrets.token_hex(8)}-{os.path.basename(path)}")
    # Created exclusively (no other writer gets the name) with the mode of any new file, 0666 less
    # the umask; mkstemp would make it 0600, and reading the umask means setting it process-wide.
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    mode = stat.S_IMODE(os.stat(tmp).st_mode)
    try:
        yield tmp
        os.chmod(tmp, mode)  # the writer may have put its own file there (safetensors writes 0600)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> None:
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, tmp, metadata=dict(metadata or {}))


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
