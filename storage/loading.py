"""One resolver for every model source: bundled name → local models folder → Hugging Face Hub.

    load_model("")                          # the bundled default model
    load_model("stylefusion-v2")            # a bundled model by name
    load_model("my-model")                  # <models>/stylefusion/my-model (folder or .safetensors)
    load_model("owner/name@v1")             # Hub repo, downloaded once into <models>/stylefusion/owner--name/

Loaded models are cached by (resolved source, device, dtype), so re-running a graph does not reload.
A host that decides itself when models are freed (ComfyUI, through the nodes) loads with ``keep=False``:
the cache then finds only models the host still holds, and never keeps one alive.
"""

from __future__ import annotations

import os
import threading
import weakref

import torch

from ..networks.errors import InputError, ModelNotFoundError
from ..networks.model import StyleFusionModel
from .hub_names import parse_hub_source
from .paths import MODELS_KIND, bundled_models, find_in, list_models

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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
            # Imported here, not above: huggingface_hub is slow to import and only Hub sources need it
            # (hub_download never imports this module: there is no cycle to hide).
            from .hub_download import ensure_model
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


#: Every loaded model still in use somewhere (weak: this never keeps one alive) …
_loaded: weakref.WeakValueDictionary[tuple, StyleFusionModel] = weakref.WeakValueDictionary()
#: … and those loaded with ``keep=True``, held until ``clear_cache()``.
_kept: dict[tuple, StyleFusionModel] = {}
_lock = threading.Lock()


def load_model(source: str | None = None, device: str | torch.device | None = "auto", precision: str | None = "auto",
               allow_paths: bool = False, progress=None, *, offload_device: str | torch.device | None = None,
               keep: bool = True) -> StyleFusionModel:
    """Load (or fetch from the cache) the model for ``source`` on ``device`` in ``precision``.

    ``progress(bytes_done, bytes_total)`` reports a first-time Hub download (ComfyUI's ProgressBar).
    ``offload_device`` puts the weights there instead, for a host that moves them to ``device`` when
    they compute (ComfyUI's model management); ``precision="auto"`` still follows ``device``.
    ``keep=False`` caches the model only while something else holds it, so the host decides when it is
    freed; by default it stays cached until ``clear_cache()``.
    """
    dev = resolve_device(device)
    dtype = resolve_dtype(precision, dev)
    home = dev if offload_device is None else torch.device(offload_device)
    path = resolve_model_path(source, allow_paths=allow_paths, progress=progress)
    stamp = _stamp(path)
    key = (path, stamp, str(dev), str(home), dtype)
    with _lock:
        model = _loaded.get(key)
        if model is None:
            for cache in (_loaded, _kept):
                for old in [k for k in list(cache.keys()) if k[0] == path and k[1] != stamp]:
                    cache.pop(old, None)  # the files changed on disk: drop the stale copy
            model = StyleFusionModel.from_pretrained(path, device=home, dtype=dtype)
            _loaded[key] = model
        if keep:
            _kept[key] = model
    return model


def _stamp(path: str) -> tuple:
    files = [path] if os.path.isfile(path) else [os.path.join(path, f) for f in ("model.safetensors", "config.json")]
    return tuple((os.path.getmtime(f), os.path.getsize(f)) for f in files if os.path.exists(f))


def clear_cache() -> None:
    with _lock:
        _loaded.clear()
        _kept.clear()
