"""The only place that touches ComfyUI's own modules, and only those ComfyUI has already loaded.

ComfyUI imports ``folder_paths``, ``comfy.utils``, ``comfy.model_management`` and
``comfy.model_patcher`` before it loads custom nodes, so inside ComfyUI they are in ``sys.modules``.
This module never imports them itself: outside ComfyUI (tests, the CLI, the headless runner) a
stray ``folder_paths`` on ``sys.path`` (say, the CLI started from a ComfyUI checkout) must not
redirect the models folders or pull in ComfyUI. There every function falls back to plain
behaviour: no folder registration, ``device="auto"`` picks the best local device, models are
loaded and cached plainly, progress goes nowhere and nothing can interrupt a run.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import torch

from ..models import StyleFusionModel
from ..storage import loading, paths

#: Model folders may hold sub-folders (Hugging Face layout) or single files; only safetensors load.
MODEL_EXTENSIONS = {".safetensors"}


def _optional_module(name: str):
    """ComfyUI's module ``name`` if ComfyUI has loaded it, else None (we are not inside ComfyUI)."""
    return sys.modules.get(name)


def folder_paths_module():
    return _optional_module("folder_paths")


def model_management():
    return _optional_module("comfy.model_management")


def register_folders(folder_paths=None) -> bool:
    """Register ``models/stylefusion`` and ``models/stylefusion_styles`` with ComfyUI.

    Folders configured in ``extra_model_paths.yaml`` stay where they are (first, if they are marked
    default); ComfyUI's own ``models/<kind>`` is appended. Extensions are restricted to
    ``.safetensors`` (model folders are found by ``paths.list_models`` whatever the extension list).
    Then ``models.paths`` is told to ask ComfyUI where each kind of folder is. Returns False outside
    ComfyUI.
    """
    folder_paths = folder_paths or folder_paths_module()
    if folder_paths is None:
        return False
    for kind in paths.KINDS:
        default = os.path.join(folder_paths.models_dir, kind)
        entry = folder_paths.folder_names_and_paths.get(kind)
        folders = entry[0] if entry else []  # the same list object: entries others hold stay in sync
        if default not in folders:
            folders.append(default)
        folder_paths.folder_names_and_paths[kind] = (folders, set(MODEL_EXTENSIONS))

    def provider(kind: str) -> list[str]:
        try:
            return folder_paths.get_folder_paths(kind)
        except KeyError:
            return []

    paths.set_folder_provider(provider)
    return True


def torch_device():
    """ComfyUI's device for ``device="auto"`` (honours --cpu, --directml…), or None outside ComfyUI."""
    mm = model_management()
    if mm is None or not hasattr(mm, "get_torch_device"):
        return None
    return mm.get_torch_device()


def load_model(source: str, device: str = "auto", precision: str = "auto") -> StyleFusionModel:
    """The model for the loader node: inside ComfyUI, one that ComfyUI's model management owns.

    There the weights wait on model management's offload device inside a ``ModelPatcher``, kept as
    ``model.patcher`` (as ComfyUI's own VAE and upscale models carry theirs); ``load_for_use`` has
    model management move them to the compute device before a node computes, so "Unload models",
    ``POST /free`` and memory pressure from other models move them off again. The loader's cache
    holds such a model only weakly: once ComfyUI drops it, it is freed. Elsewhere: plain loading.
    """
    if device == "auto":
        device = torch_device() or "auto"
    progress = download_progress()
    mm, patchers = model_management(), _optional_module("comfy.model_patcher")
    if mm is None or patchers is None:
        return loading.load_model(source, device=device, precision=precision, progress=progress)
    load_device = loading.resolve_device(device)
    offload_device = load_device if load_device.type == "cpu" else mm.unet_offload_device()
    model = loading.load_model(source, device=load_device, precision=precision, progress=progress,
                               offload_device=offload_device, keep=False)
    if getattr(model, "patcher", None) is None:  # a model the cache found is already managed
        model.patcher = patchers.ModelPatcher(_PatchedNetworks(model, offload_device), load_device=load_device,
                                              offload_device=offload_device)
    return model


class _PatchedNetworks(torch.nn.Module):
    """What the ModelPatcher moves: the model's networks (E_c, E_s, G), not the model object itself,
    so model → patcher → networks makes no reference cycle and the model is freed as soon as ComfyUI
    lets go of it. ModelPatcher records where the weights are in ``device`` (the model's own
    ``device`` is read-only: it is wherever its weights are)."""

    def __init__(self, model: StyleFusionModel, device: torch.device):
        super().__init__()
        for name, network in model.named_children():
            self.add_module(name, network)
        self.device = device


def load_for_use(model: StyleFusionModel) -> None:
    """Before ``model`` computes: inside ComfyUI, model management loads it onto its device (offloading
    other models if it needs room). Fully: our layers are plain torch modules, which cannot run with
    some weights left behind on the offload device. A no-op for a model loaded outside ComfyUI."""
    patcher = getattr(model, "patcher", None)
    mm = model_management()
    if patcher is not None and mm is not None:
        mm.load_models_gpu([patcher], force_full_load=True)


def check_interrupt() -> None:
    """Raise ComfyUI's interrupt exception if the user pressed Cancel; a no-op outside ComfyUI."""
    mm = model_management()
    if mm is not None and hasattr(mm, "throw_exception_if_processing_interrupted"):
        mm.throw_exception_if_processing_interrupted()


def download_progress() -> Callable[[int, int], None] | None:
    """A ``progress(bytes_done, bytes_total)`` callback that drives ComfyUI's bar during a Hub
    download (and lets Cancel stop it), or None outside ComfyUI."""
    utils = _optional_module("comfy.utils")
    if utils is None or not hasattr(utils, "ProgressBar"):
        return None
    bar = utils.ProgressBar(100)

    def report(done: int, total: int) -> None:
        if total:
            bar.update_absolute(min(100, int(100 * done / total)), 100)
        check_interrupt()

    return report


class FrameProgress:
    """Progress over ``frames`` frames, each possibly split into tiles, shown in ComfyUI's bar.

    ``tiles(i)`` gives the callback the models API calls per tile of frame ``i`` (it also checks for
    interrupts); ``done(i)`` marks frame ``i`` finished. Outside ComfyUI only interrupts are checked.
    """

    def __init__(self, frames: int):
        self.frames = max(1, frames)
        self.tiles_per_frame = 1
        utils = _optional_module("comfy.utils")
        self.bar = utils.ProgressBar(self.frames) if utils is not None and hasattr(utils, "ProgressBar") else None

    def _show(self, value: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update_absolute(value, total)

    def start(self, frame: int) -> None:
        check_interrupt()

    def tiles(self, frame: int) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            self.tiles_per_frame = max(1, total)
            self._show(frame * self.tiles_per_frame + done, self.frames * self.tiles_per_frame)
            check_interrupt()

        return report

    def done(self, frame: int) -> None:
        self._show((frame + 1) * self.tiles_per_frame, self.frames * self.tiles_per_frame)
