"""The training loop: each step is one G step and one D step of the objective stated in ``losses.py``.

The inference networks' EMA is what gets exported. Every step reseeds its data and noise from
(seed, step, rank), so a resumed run draws exactly what an uninterrupted one would; worker processes
decode and crop the coming steps' images meanwhile (``dataset.prefetch``, ``data_workers``).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import time
from contextlib import nullcontext
from typing import Iterator

import torch
import torch.nn.functional as F

from ..networks.model import StyleFusionModel
from ..networks.discriminator import Discriminator
from ..networks.generator import make_noise
from ..storage.images import load_rgb
from ..storage.loading import load_model
from . import distributed as dist_utils
from . import losses as L
from .checkpoint import (STATS_NAME, discard_empty_run_dir, latest_checkpoint, load_checkpoint, prepare_run_dir,
                         save_checkpoint, truncate_stats)
from .config import CONFIG_CHANGED, TrainingConfig, describe_changes
from .dataset import ImageFolder, StepBatch, StepBatches, prefetch
from .perceptual import hed_vgg16_state, load_perceptual
from .warm_start import warm_start
from .samples import save_sample_grid


class TrainingError(RuntimeError):
    """The run cannot continue (diverged, no data…); the message says what to do."""


class TrainingNets(StyleFusionModel):
    """E_c, E_s and G with the training forward pass, so DistributedDataParallel sees one module."""

    def forward(self, content: torch.Tensor, style: torch.Tensor, noise: list[torch.Tensor],
                style_stats: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``style_stats``: what a VGG16 E_s reads of [content, style] (``VGGStyleEncoder.statistics``),
        when the loss network computed those features anyway; then "stylised_style" is left to the caller."""
        E_c, E_s, G = self.feature_extractor, self.style_encoder, self.generator
        both = torch.cat([content, style])
        codes = E_c(both)
        styles = E_s(both) if style_stats is None else E_s.from_statistics(style_stats)
        c, c_style = codes.chunk(2)
        s_content, s = styles.chunk(2)
        n2 = [torch.cat([z, z]) for z in noise]
        # One batched G pass for the stylised photo and the photo's reconstruction.
        out = G(torch.cat([c, c]), torch.cat([s, s_content]), n2)
        stylised, recon_content = out.chunk(2)
        recon_style = G(c_style, s, noise)
        out = {
            "stylised": stylised, "recon_content": recon_content, "recon_style": recon_style,
            "content_code": c[:, : E_c.learned_channels], "style_vector": s,
            # Latent reconstruction compares learned channels only: the thumbnail's colours should change.
            "stylised_code": E_c(stylised)[:, : E_c.learned_channels],
        }
        if style_stats is None:
            out["stylised_style"] = E_s(stylised)
        return out


def _mean_sigmoid(logits: list[torch.Tensor]) -> float:
    """Mean probability D gives over all scales and positions (0.5 = undecided)."""
    return float(torch.cat([l.detach().flatten() for l in logits]).sigmoid().mean())


class Trainer:
    """Owns the networks, optimisers, data and run folder of one training run."""

    def __init__(self, config: TrainingConfig, content_dir: str, style_dir: str, run_dir: str,
                 resume: bool = False, device: str | None = None, progress: bool = True):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.rank, self.world = dist_utils.setup(self.device)
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)
        self.run_dir = run_dir
        self.show_progress = progress and self.rank == 0
        prepare_run_dir(run_dir, resume)

        saved = os.path.join(run_dir, "config.json")
        checkpoint = latest_checkpoint(run_dir) if resume else None
        changes = {}
        if resume and os.path.isfile(saved):
            config, changes = _resolve_resume_config(saved, config)
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)

        self.content = ImageFolder(content_dir, config.holdout_fraction, config.cache_images)
        self.style = ImageFolder(style_dir, config.holdout_fraction, config.cache_images, config.style_balance)
        self.batches = StepBatches(self.content, self.style, config.batch_size, config.crop_size, config.crop_scale,
                                   config.seed, self.rank)
        self._prefetched: Iterator[StepBatch] | None = None  # while ``run`` runs: its steps' batches, in order

        torch.manual_seed(config.seed)
        self.nets = TrainingNets(config.model).train()
        if config.model.style_features == "vgg16":  # E_s's trunk: HED's pretrained VGG16, frozen
            self.nets.style_encoder.features.load_state_dict(hed_vgg16_state())
        start_record = None
        if config.init_from and checkpoint is None:
            start_record = warm_start(self.nets, load_model(config.init_from, device="cpu", precision="fp32", allow_paths=True),
                                      self.style, seed=config.seed)
            print(f"[stylefusion] {start_record}")
        self.nets.to(self.device)
        self.ema = StyleFusionModel(config.model).to(self.device)
        self.ema.load_state_dict(self.nets.state_dict())
        self.ema.eval().requires_grad_(False)
        self.disc = Discriminator(config.model).to(self.device)
        self.phi = load_perceptual(config.perceptual).to(self.device)
        # A VGG16 E_s reads the same HED VGG16 features Φ computes of the crops: computed once.
        self.shared_vgg = config.model.style_features == "vgg16" and config.perceptual == "hed_vgg16"

        if resume and "trainable" in changes:
            raise TrainingError(f"trainable: changed from {list(changes['trainable'][0])} to "
                                f"{list(changes['trainable'][1])} on --resume; the optimiser state would not fit. "
                                f"Start a new run with --config's init_from set to an export of this one")
        self.opt_g = torch.optim.Adam(trainable_parameters(self.nets, config.trainable), lr=config.lr_generator,
                                      betas=config.betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=config.lr_discriminator, betas=config.betas)
        self.step = 0
        self.elapsed = 0.0
        self.bad_steps = 0
        if checkpoint:
            state = load_checkpoint(checkpoint, self._checkpoint_nets(), self._checkpoint_optimizers())
            self.step, self.elapsed = state["step"], state.get("elapsed_seconds", 0.0)
            self.bad_steps = state.get("bad_steps", 0)
        if resume and self.rank == 0:
            truncate_stats(run_dir, self.step)  # steps after the checkpoint are logged again
        self.nets_ddp = dist_utils.wrap(self.nets, self.device)
        self.disc_ddp = dist_utils.wrap(self.disc, self.device)

        amp = self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
        self.autocast = (lambda: torch.autocast("cuda", dtype=self.amp_dtype)) if amp else nullcontext
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp and self.amp_dtype == torch.float16)
        self.fixed = self._fixed_samples()
        if self.rank == 0:
            with open(saved, "w", encoding="utf-8") as fh:
                fh.write(config.to_json())
            self._write_data_report()
        self.writer = self._tensorboard()
        self._stop_requested = False
        if changes:  # the run's history must say which settings produced which steps
            self._log_event({"step": self.step, "event": CONFIG_CHANGED, "changes": changes})
        if start_record:
            self._log_event({"step": 0, **start_record})
            self.save()  # the fitted start is kept: a run stopped early resumes from it, not from scratch

    # -- bookkeeping ---------------------------------------------------------------------------
    def _checkpoint_nets(self):
        return {"nets": self.nets, "ema": self.ema, "disc": self.disc}

    def _checkpoint_optimizers(self):
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def _write_data_report(self):
        report = {
            name: {"root": os.path.abspath(d.root), "images": len(d.paths), "held_out": [os.path.basename(p) for p in d.held_out],
                   "skipped": d.skipped}
            for name, d in (("content", self.content), ("style", self.style))
        }
        with open(os.path.join(self.run_dir, "data.json"), "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
        for name, d in (("content", self.content), ("style", self.style)):
            if d.skipped:
                print(f"[stylefusion] skipped {len(d.skipped)} unreadable {name} image(s), e.g. {d.skipped[0]}")

    def _tensorboard(self):
        if self.rank != 0:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard not installed: stats.jsonl is still written
            return None
        return SummaryWriter(os.path.join(self.run_dir, "tensorboard"))

    def _fixed_samples(self):
        """Fixed photos × fixed styles for comparable sample grids (held-out photos when there are some)."""
        size = max(self.config.crop_size, 64)
        def pick(folder: ImageFolder, n: int):
            pool = folder.held_out or folder.paths
            step = max(1, len(pool) // n)
            imgs = []
            for p in pool[::step][:n]:
                try:
                    img = load_rgb(p).float()[None] / 255
                except (OSError, ValueError):
                    continue
                imgs.append(F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
            return torch.cat(imgs) if imgs else None
        return pick(self.content, 4), pick(self.style, 4)

    # -- one step ------------------------------------------------------------------------------
    def _batch(self, step: int):
        """Content crops, style crops and noise of ``step``: prefetched by ``run``'s loader, else built here."""
        cfg = self.config
        batch = next(self._prefetched) if self._prefetched is not None else self.batches[step]
        assert batch.step == step, f"the loader delivered step {batch.step} for step {step}"
        noise = make_noise(0, cfg.crop_size, cfg.crop_size, self.nets.generator.noise_strides, self.device,
                           batch=cfg.batch_size, generator=batch.generator())
        return batch.content.to(self.device), batch.style.to(self.device), batch.reference.to(self.device), noise

    def train_step(self) -> dict[str, float]:
        cfg, lw = self.config, self.config.losses
        step = self.step + 1
        content, style, reference, noise = self._batch(step)
        adversarial = bool(lw.adversarial or lw.style_match)
        E_s = self.nets.style_encoder
        # D's mismatched pairs: each painting's crop with the next one's reference (another painting, mostly).
        other = reference.roll(1, dims=0)

        # ---- G step (D frozen) ----
        self.disc.requires_grad_(False)
        with self.autocast():
            with torch.no_grad():
                both = torch.cat([content, style])
                f_both = [f.float() for f in self.phi(both)]
                f_c, f_s = zip(*(f.chunk(2) for f in f_both))
                style_stats = E_s.statistics(f_both, both) if self.shared_vgg else None
            out = self.nets_ddp(content, style, noise, style_stats)
            y = out["stylised"]
            f_y = [f.float() for f in self.phi(y)]
            if self.shared_vgg:
                out["stylised_style"] = E_s.from_statistics(E_s.statistics(f_y, y))
            relative = cfg.relative_losses
            terms = {
                "content": L.content_loss(f_y, f_c, cfg.content_layers),
                "style": L.style_stats_loss(f_y, f_s, cfg.style_layers, relative),
                "gram": L.gram_loss(f_y, f_s, cfg.style_layers, relative) if lw.gram else y.new_zeros(()),
                "color": L.color_loss(y.float(), style),
                "rec": L.reconstruction_loss(out["recon_content"].float(), content)
                + L.reconstruction_loss(out["recon_style"].float(), style),
                "style_lat": F.l1_loss(out["stylised_style"].float(), out["style_vector"].detach().float()),
                "content_lat": F.l1_loss(out["stylised_code"].float(), out["content_code"].detach().float()),
            }
            if adversarial:
                realism, match = self.disc_ddp(y, reference)
                terms["adv"] = L.g_adv_loss(realism)
                terms["match"] = L.g_adv_loss(match)
            weights = {"adv": lw.adversarial, "match": lw.style_match, "content": lw.content, "style": lw.style,
                       "gram": lw.gram, "color": lw.color, "rec": lw.reconstruction, "style_lat": lw.style_latent,
                       "content_lat": lw.content_latent}
            g_total = sum(weights[k] * v for k, v in terms.items())
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(g_total).backward()
        ok = self._all_finite(g_total)
        if ok:
            self.scaler.step(self.opt_g)
            self.scaler.update()
            self._update_ema(step)
        else:
            self.opt_g.zero_grad(set_to_none=True)

        # ---- D step ----
        stats = {k: float(v.detach()) for k, v in terms.items()}
        stats["g_total"] = float(g_total.detach())
        self.disc.requires_grad_(True)
        if step % cfg.d_every == 0 and adversarial:
            with self.autocast():
                real_realism, real_match = self.disc_ddp(style, reference)
                fake_realism, fake_match = self.disc_ddp(y.detach(), reference)
                _, mismatch = self.disc_ddp(style, other)
                d_realism = L.d_loss(real_realism, fake_realism)
                d_match = L.d_loss(real_match, fake_match) + L.d_fake_loss(mismatch)
                d_total = d_realism + d_match
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler.scale(d_total).backward()
            r1 = torch.zeros(())
            if cfg.r1_gamma and step % cfg.r1_every == 0:
                real = style.detach().requires_grad_(True)
                realism, match = self.disc(real, reference)  # double backward: outside DDP, reduced below
                r1 = L.r1_penalty(real, [a + b for a, b in zip(realism, match)])
                (cfg.r1_gamma / 2 * cfg.r1_every * r1).backward()
                dist_utils.all_reduce_grads(self.disc)
            d_ok = self._all_finite(d_total + r1.detach())
            if d_ok:
                self.scaler.step(self.opt_d)
                self.scaler.update()
            else:
                self.opt_d.zero_grad(set_to_none=True)
            ok = ok and d_ok
            stats.update(d_loss=float(d_total.detach()), d_realism=float(d_realism.detach()),
                         d_match=float(d_match.detach()), r1=float(r1.detach()),
                         d_real=_mean_sigmoid(real_realism), d_fake=_mean_sigmoid(fake_realism),
                         match_real=_mean_sigmoid(real_match), match_fake=_mean_sigmoid(fake_match),
                         match_other=_mean_sigmoid(mismatch))

        self.step = step
        if ok:
            self.bad_steps = 0
        else:
            self.bad_steps += 1
            self._log_event({"step": step, "event": "non-finite loss, step skipped", "losses": stats})
            if self.bad_steps >= cfg.max_bad_steps:
                raise TrainingError(
                    f"training diverged: the loss was NaN/inf for {self.bad_steps} steps in a row (last at step {step}). "
                    f"Resume from the last checkpoint with lower learning rates (lr_generator/lr_discriminator) "
                    f"or a smaller adversarial weight, and check the data for broken images."
                )
        return stats

    def _all_finite(self, loss: torch.Tensor) -> bool:
        flag = torch.tensor([1.0 if bool(torch.isfinite(loss.detach()).all()) else 0.0], device=self.device)
        if self.world > 1:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        return bool(flag.item() > 0)

    @torch.no_grad()
    def _update_ema(self, step: int):
        decay = min(self.config.ema_decay, (1 + step) / (10 + step))
        for p_ema, p in zip(self.ema.parameters(), self.nets.parameters()):
            p_ema.lerp_(p.detach(), 1 - decay)
        for b_ema, b in zip(self.ema.buffers(), self.nets.buffers()):
            b_ema.copy_(b)
        self.ema.weights_changed()

    # -- outputs -------------------------------------------------------------------------------
    def _log_event(self, record: dict):
        if self.rank != 0:
            return
        with open(os.path.join(self.run_dir, STATS_NAME), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def save(self):
        if self.rank == 0:
            save_checkpoint(self.run_dir, self.step, self._checkpoint_nets(), self._checkpoint_optimizers(),
                            {"elapsed_seconds": self.elapsed, "bad_steps": self.bad_steps,
                             "config": self.config.to_dict(), "world_size": self.world,
                             "hardware": _hardware(self.device)},
                            keep=self.config.keep_checkpoints)
        dist_utils.barrier()

    def sample(self):
        if self.rank == 0 and self.fixed[0] is not None and self.fixed[1] is not None:
            path = os.path.join(self.run_dir, "samples", f"step-{self.step:07d}.png")
            save_sample_grid(self.ema, self.fixed[0], self.fixed[1], path)

    def _request_stop(self, signum, frame):
        self._stop_requested = True

    def run(self, total_steps: int) -> None:
        cfg = self.config
        handlers = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                handlers[sig] = signal.signal(sig, self._request_stop)
            except ValueError:  # not the main thread
                pass
        bar = None
        if self.show_progress:
            try:
                from tqdm import tqdm
                bar = tqdm(total=total_steps, initial=self.step, desc="train", dynamic_ncols=True)
            except ImportError:
                bar = None
        window_start, window_steps = time.perf_counter(), 0
        self._prefetched = prefetch(self.batches, range(self.step + 1, total_steps + 1), cfg.data_workers)
        try:
            while self.step < total_steps and not self._stop_requested:
                t0 = time.perf_counter()
                stats = self.train_step()
                self.elapsed += time.perf_counter() - t0
                window_steps += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{stats[k]:.3g}" for k in ("g_total", "content", "style", "gram", "adv", "d_loss") if k in stats})
                if self.step % cfg.log_every == 0:
                    stats = dist_utils.mean_across(stats)
                    now = time.perf_counter()
                    record = {"step": self.step, "elapsed_seconds": round(self.elapsed, 1),
                              "sec_per_step": round((now - window_start) / window_steps, 3), **stats}
                    window_start, window_steps = now, 0
                    self._log_event(record)
                    if self.writer is not None:
                        for k, v in stats.items():
                            self.writer.add_scalar(f"loss/{k}", v, self.step)
                if self.step % cfg.sample_every == 0:
                    self.sample()
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
        finally:
            self._prefetched = None  # stops the loader's workers
            if bar is not None:
                bar.close()
            for sig, h in handlers.items():
                signal.signal(sig, h)
        if self.step % cfg.sample_every:
            self.sample()
        self.save()  # a run always ends with a checkpoint
        if self.writer is not None:
            self.writer.close()

    def release_distributed(self) -> None:
        """Drop the DDP wrappers (they hold the process group's communication state) before the
        group is destroyed; the plain networks stay usable."""
        self.nets_ddp, self.disc_ddp = self.nets, self.disc


def trainable_parameters(nets: torch.nn.Module, parts: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """The parameters of ``parts`` (module paths; empty = all); every other parameter is frozen."""
    if not parts:
        return list(nets.parameters())
    chosen: dict[int, torch.nn.Parameter] = {}
    for part in parts:
        try:
            module = nets.get_submodule(part)
        except AttributeError:
            known = ", ".join(name for name, _ in nets.named_children())
            raise TrainingError(f"trainable: {part!r} is not a part of the networks (top-level parts: {known})") from None
        chosen.update((id(p), p) for p in module.parameters())
    for p in nets.parameters():
        if id(p) not in chosen:
            p.requires_grad_(False)
    params = [p for p in chosen.values() if p.requires_grad]
    if not params:
        raise TrainingError(f"trainable: {', '.join(parts)} hold no trainable weights (a frozen trunk only)")
    return params


def _hardware(device: torch.device) -> str:
    """What the steps ran on, for the model card: "CPU, 2 threads" or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU, {torch.get_num_threads()} threads"


def _resolve_resume_config(saved_path: str, given: TrainingConfig) -> tuple[TrainingConfig, dict]:
    """The config a resumed run goes on with, and what changed against the run's saved one.

    The architecture cannot change mid-run (the checkpoint would not fit), so a different one in
    ``--config`` is ignored; anything else (loss weights, learning rates, intervals) may change,
    and the changes are returned (``TrainingConfig.setting_changes``).
    """
    with open(saved_path, encoding="utf-8") as fh:
        saved = TrainingConfig.from_dict(json.load(fh), source=saved_path)
    if saved.model != given.model:
        print(f"[stylefusion] --resume: using the run's own config {saved_path} (its architecture differs from --config)")
        return saved, {}
    changes = saved.setting_changes(given)
    if changes:
        print(f"[stylefusion] --resume with changed settings: {describe_changes(changes)}")
    return given, changes


def train(config: TrainingConfig, content_dir: str, style_dir: str, run_dir: str, steps: int,
          resume: bool = False, device: str | None = None, progress: bool = True) -> Trainer:
    trainer = None
    finished = False
    try:
        trainer = Trainer(config, content_dir, style_dir, run_dir, resume=resume, device=device, progress=progress)
        trainer.run(steps)
        finished = True
    except BaseException:
        discard_empty_run_dir(run_dir)
        raise
    finally:
        if trainer is not None:
            trainer.release_distributed()
            gc.collect()
        dist_utils.cleanup(finished)
    return trainer
