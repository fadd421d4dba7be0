"""One resolver for every model source: bundled name → local models folder → Hugging Face Hub.

    load_model("")                          # the bundled default model
    load_model("stylefusion-base")          # a bundled model by name
    load_model("my-model")                  # <models>/stylefusion/my-model (folder or .safetensors)
    load_model("owner/name@v1")             # Hub repo, downloaded once into <models>/stylefusion/owner--name/

Loaded models are cached by (resolved source, device, dtype), so re-running a graph does not reload.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

import torch

from ..networks.model import StyleFusionModel
from ..networks.errors import InputError, ModelNotFoundError
from .paths import MODELS_KIND, bundled_models, find_in, list_models

_HUB_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_HUB_RE = re.compile(rf"^(?P<owner>{_HUB_PART})/(?P<name>{_HUB_PART})(?:@(?P<revision>[A-Za-z0-9._/-]{{1,200}}))?$")

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class HubSource:
    owner: str
    name: str
    revision: str | None = None

    @property
    def repo_id(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def folder_name(self) -> str:
        """Local folder name: ``owner--name`` (a pinned revision gets ``@revision`` appended, '/' → '_')."""
        base = f"{self.owner}--{self.name}"
        return base if not self.revision else f"{base}@{self.revision.replace('/', '_')}"

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def parse_hub_source(text: str) -> HubSource | None:
    """``owner/name[@revision]`` → HubSource; anything else → None."""
    m = _HUB_RE.match(text.strip())
    if not m or ".." in text or m["owner"].startswith(".") or m["name"].startswith("."):
        return None
    if "--" in m["owner"] or "--" in m["name"]:
        return None  # the Hub forbids '--' in repo ids; allowing it would let two repos share one owner--name folder
    rev = m["revision"]
    if rev and (".." in rev or rev.startswith("/") or rev.endswith("/")):
        return None
    return HubSource(m["owner"], m["name"], rev)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device: unknown device {device!r}; use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device: CUDA was requested but no CUDA GPU is available; choose auto or cpu")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("device: MPS was requested but is not available on this machine; choose auto or cpu")
    return dev


def resolve_dtype(precision: str | None, device: torch.device) -> torch.dtype:
    if precision in (None, "auto"):
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    if precision not in PRECISIONS:
        raise InputError(f"precision: unknown precision {precision!r}; use auto, fp32, fp16 or bf16")
    return PRECISIONS[precision]


def resolve_model_path(source: str | None, allow_paths: bool = False, progress=None) -> str:
    """A local file or folder for ``source`` (downloading Hub repos once). See the module docstring.

    ``allow_paths`` also accepts filesystem paths (the CLI); names from workflows never leave the
    models folders. ``progress(bytes_done, bytes_total)`` is called while a Hub repo downloads.
    """
    source = (source or "").strip()
    bundled = bundled_models()
    if not source:
        if not bundled:
            raise ModelNotFoundError("model: no bundled model is installed; reinstall comfyui-stylefusion or choose a model")
        return next(iter(bundled.values()))
    if source in bundled:
        return bundled[source]
    if allow_paths and (os.path.isabs(source) or os.path.exists(source)):
        if not os.path.exists(source):
            raise ModelNotFoundError(f"model: {source} does not exist")
        return os.path.abspath(source)
    hub = parse_hub_source(source)
    if hub is None or not hub.revision:
        local = find_in(MODELS_KIND, source)
        if local:
            return local
    if hub is not None:
        try:
            from .hub import ensure_model  # imported here: huggingface_hub is only needed for Hub sources
        except ModuleNotFoundError as exc:
            if exc.name != "huggingface_hub":
                raise
            raise ModelNotFoundError(f"model: {source} is a Hub repo, and Hub downloads need the huggingface_hub "
                                     "package: pip install huggingface_hub") from None
        return ensure_model(hub, progress=progress)
    known = list(bundled) + list_models()
    raise ModelNotFoundError(
        f"model: {source!r} is not a bundled model, not in the models folder and not a Hub repo (owner/name); "
        f"available: {', '.join(known) or 'none'}"
    )


_cache: dict[tuple, StyleFusionModel] = {}
_lock = threading.Lock()


def load_model(source: str | None = None, device: str | torch.device | None = "auto", precision: str | None = "auto",
               allow_paths: bool = False, progress=None) -> StyleFusionModel:
    """Load (or fetch from the cache) the model for ``source`` on ``device`` in ``precision``.

    ``progress(bytes_done, bytes_total)`` reports a first-time Hub download (ComfyUI's ProgressBar).
    """
    dev = resolve_device(device)
    dtype = resolve_dtype(precision, dev)
    path = resolve_model_path(source, allow_paths=allow_paths, progress=progress)
    stamp = _stamp(path)
    key = (path, stamp, str(dev), dtype)
    with _lock:
        model = _cache.get(key)
        if model is None:
            for old in [k for k in _cache if k[0] == path and k[1] != stamp]:
                del _cache[old]  # the files changed on disk: drop the stale copy
            model = StyleFusionModel.from_pretrained(path, device=dev, dtype=dtype)
            _cache[key] = model
    return model


def _stamp(path: str) -> tuple:
    files = [path] if os.path.isfile(path) else [os.path.join(path, f) for f in ("model.safetensors", "config.json")]
    return tuple((os.path.getmtime(f), os.path.getsize(f)) for f in files if os.path.exists(f))


def clear_cache() -> None:
    with _lock:
        _cache.clear()
