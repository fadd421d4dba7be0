"""Checkpoints in safetensors + JSON (no pickle), written atomically.

Layout of ``RUN_DIR/checkpoints/step-000500/``::

    nets.safetensors     E_c, E_s, G, D and the EMA copies (prefixes "nets." and "ema.")
    optim.safetensors    optimiser state tensors ("opt_g.state.<i>.<key>", "opt_d.…")
    rng.safetensors      torch CPU (and CUDA) RNG states as uint8 tensors
    state.json           step, elapsed time, optimiser hyper-parameters, training config

A checkpoint is written into a hidden temporary folder and renamed into place, then
``RUN_DIR/checkpoints/latest`` (a one-line text file) is replaced atomically. A run killed at any
moment leaves the previous checkpoint and ``latest`` intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import torch

from ..networks.errors import StyleFusionError
from ..storage.weights import read_safetensors, write_safetensors, write_text

STATS_NAME = "stats.jsonl"


class RunFolderError(StyleFusionError, OSError):
    """The run folder cannot be used or written (missing for --resume, disk full…); one-line message."""


def prepare_run_dir(run_dir: str, resume: bool) -> None:
    """Create the run folder (``--resume`` needs it to exist) and drop temporary files a killed run left."""
    if resume and not os.path.isdir(run_dir):
        raise RunFolderError(f"--resume: the run folder {run_dir} does not exist; check the path, or leave out "
                             "--resume to start a new run there")
    os.makedirs(run_dir, exist_ok=True)
    for folder in (run_dir, os.path.join(run_dir, "samples")):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith(".tmp-") and os.path.isfile(os.path.join(folder, name)):
                    os.remove(os.path.join(folder, name))


def discard_empty_run_dir(run_dir: str) -> None:
    """Remove a run folder that holds no file (an early error must not leave an empty run behind)."""
    if os.path.isdir(run_dir) and not any(files for _, _, files in os.walk(run_dir)):
        shutil.rmtree(run_dir, ignore_errors=True)


def stats_records(run_dir: str) -> list[dict]:
    """The records of the run's ``stats.jsonl`` that carry a step, in order; lines that are not such
    a record (a torn last line of a killed run) are left out. No file: none."""
    path = os.path.join(run_dir, STATS_NAME)
    if not os.path.isfile(path):
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                records.append(record)
    return records


def truncate_stats(run_dir: str, step: int) -> None:
    """Keep the lines of ``stats.jsonl`` up to ``step`` (the checkpoint a run resumes from).

    A killed run logged steps after its last checkpoint; the resumed run logs them again, so the
    old lines would appear twice. A torn last line is dropped too.
    """
    path = os.path.join(run_dir, STATS_NAME)
    if os.path.isfile(path):
        write_text(path, "".join(json.dumps(r) + "\n" for r in stats_records(run_dir) if r["step"] <= step))


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"{prefix}.state.{idx}.{key}"] = t
    return tensors, {"param_groups": sd["param_groups"]}


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, t in tensors.items():
        if not name.startswith(prefix + ".state."):
            continue
        idx, key = name[len(prefix) + 7:].split(".", 1)
        state.setdefault(int(idx), {})[key] = t
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: str, step: int, nets: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                    extra: dict, keep: int = 3) -> str:
    try:
        return _save_checkpoint(run_dir, step, nets, optimizers, extra, keep)
    except (OSError, StyleFusionError, RuntimeError) as exc:  # safetensors reports a full disk as its own error
        reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:200]
        raise RunFolderError(f"{run_dir}: cannot write the checkpoint of step {step} ({reason}); free disk space, then "
                             "continue with --resume (the previous checkpoint is intact)") from None


def _save_checkpoint(run_dir, step, nets, optimizers, extra, keep) -> str:
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    name = f"step-{step:07d}"
    final = os.path.join(root, name)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root)
    try:
        net_tensors = {f"{k}.{n}": t for k, net in nets.items() for n, t in net.state_dict().items()}
        write_safetensors(os.path.join(tmp, "nets.safetensors"), net_tensors)
        opt_tensors, opt_meta = {}, {}
        for k, opt in optimizers.items():
            t, meta = _flatten_optimizer(k, opt)
            opt_tensors.update(t)
            opt_meta[k] = meta
        write_safetensors(os.path.join(tmp, "optim.safetensors"), opt_tensors)
        rng = {"torch_cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng.update({f"torch_cuda_{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        write_safetensors(os.path.join(tmp, "rng.safetensors"), rng)
        write_text(os.path.join(tmp, "state.json"), json.dumps({"step": step, "optimizers": opt_meta, **extra}, indent=1))
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    write_text(os.path.join(root, "latest"), name + "\n")
    _prune(root, keep)
    return final


def _prune(root: str, keep: int) -> None:
    done = sorted(d for d in os.listdir(root) if d.startswith("step-"))
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(os.path.join(root, old), ignore_errors=True)
    for d in os.listdir(root):  # leftovers of a run killed mid-write
        if d.startswith(".tmp-"):
            shutil.rmtree(os.path.join(root, d), ignore_errors=True)


def latest_checkpoint(run_dir: str) -> str | None:
    root = os.path.join(run_dir, "checkpoints")
    pointer = os.path.join(root, "latest")
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as fh:
            path = os.path.join(root, fh.read().strip())
        if os.path.isfile(os.path.join(path, "state.json")):
            return path
    # Fall back to the newest complete folder (state.json is written last).
    done = sorted(d for d in os.listdir(root) if d.startswith("step-")) if os.path.isdir(root) else []
    for d in reversed(done):
        if os.path.isfile(os.path.join(root, d, "state.json")):
            return os.path.join(root, d)
    return None


def load_checkpoint(path: str, nets: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer] | None = None) -> dict:
    """Restore networks (and optimisers, RNG) from a checkpoint folder; return its state.json."""
    with open(os.path.join(path, "state.json"), encoding="utf-8") as fh:
        state = json.load(fh)
    tensors, _ = read_safetensors(os.path.join(path, "nets.safetensors"))
    for k, net in nets.items():
        prefix = k + "."
        net.load_state_dict({n[len(prefix):]: t for n, t in tensors.items() if n.startswith(prefix)}, strict=True)
    if optimizers:
        opt_tensors, _ = read_safetensors(os.path.join(path, "optim.safetensors"))
        for k, opt in optimizers.items():
            opt.load_state_dict(_unflatten_optimizer(k, opt_tensors, state["optimizers"][k]))
        rng, _ = read_safetensors(os.path.join(path, "rng.safetensors"))
        torch.set_rng_state(rng["torch_cpu"])
        if torch.cuda.is_available():
            cuda = [rng[k] for k in sorted(rng) if k.startswith("torch_cuda_")]
            if len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda)
    return state
