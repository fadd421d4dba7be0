"""Issue 10, "Nothing lost, nothing hangs": one regression test per case the adversarial pass found.

Every case ends in a one-line error naming the input, or in a correct result; never a traceback, a
hang, a lost or half-written file. Memory bounds are measured by docs/measure_tiled_memory.py, not here.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from stylefusion.cli import main
from stylefusion.models import InputError, ModelFormatError, StyleFusionModel, TINY_CONFIG, StyleVector, api
from stylefusion.storage import paths
from stylefusion.networks.model import WEIGHTS_NAME
from stylefusion.networks.feature_extractor import pad_to_stride, padded_crop, padded_size
from stylefusion.storage.style_file import load_style, save_style
from stylefusion.storage.weights import MAX_HEADER_BYTES, atomic_path, read_safetensors, write_safetensors
from stylefusion.runner.errors import WorkflowError
from stylefusion.runner.executor import parse_setting, run_workflow
from stylefusion.runner.images import read_image
from stylefusion.training import checkpoint, dataset
from test_cli import fake_nodes, folder  # noqa: F401  (fixtures: the fake nodes, a folder with photo.png)
from test_runner import invert_graph
from test_runner_helpers import write_picture


def one_line(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return code, lines[0]


def raw_safetensors(path, header, payload: bytes = b"") -> str:
    blob = json.dumps(header).encode()
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob + payload)
    return str(path)


# -- lost output ----------------------------------------------------------------------------------------
def test_concurrent_runs_into_one_folder_never_overwrite_each_other(folder, tmp_path):
    workflow = invert_graph().save(folder / "wf.json")
    out = tmp_path / "out"
    errors = []

    def run():
        try:
            run_workflow(workflow, output_dir=str(out))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(os.listdir(out)) == [f"Test_0000{i}_.png" for i in range(1, 5)]


def test_save_never_replaces_an_existing_file_and_leaves_no_temporary(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "Test_00001_.png").write_bytes(b"another run's picture")
    # The counter scan sees 00001, so a racing writer is simulated by claiming 00002 after the scan.
    from stylefusion.runner import core_nodes

    real = core_nodes.save_image_path

    def racing(*args):
        result = real(*args)
        (out / "Test_00002_.png").write_bytes(b"raced")
        return result

    core_nodes.save_image_path, saved = racing, core_nodes.save_image_path
    try:
        result = run_workflow(invert_graph().save(folder / "wf.json"), output_dir=str(out))
    finally:
        core_nodes.save_image_path = saved
    assert [os.path.basename(f) for f in result.files] == ["Test_00003_.png"]
    assert (out / "Test_00002_.png").read_bytes() == b"raced"
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]


def test_a_writer_killed_mid_write_leaves_no_file_under_the_final_name(tmp_path):
    target = tmp_path / "result.png"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"\x89PNG half")
            raise KeyboardInterrupt  # what SIGKILL would interrupt; the final name never appears
    assert os.listdir(tmp_path) == []


# -- memory exhaustion -----------------------------------------------------------------------------------
def test_absurd_config_sizes_are_refused_before_anything_is_built(tiny_model_dir):
    config_path = os.path.join(tiny_model_dir, "config.json")
    data = json.load(open(config_path))
    data["generator_res_blocks"] = 10 ** 7
    json.dump(data, open(config_path, "w"))
    with pytest.raises(ModelFormatError, match="generator_res_blocks"):
        StyleFusionModel.from_pretrained(tiny_model_dir)


def test_config_within_caps_but_not_the_file_is_refused_from_the_header(tiny_model_dir, monkeypatch):
    from stylefusion.networks import model as bundle

    config_path = os.path.join(tiny_model_dir, "config.json")
    data = json.load(open(config_path))
    data["generator_res_blocks"] = 40
    json.dump(data, open(config_path, "w"))
    # Neither the tensors are read nor a real model built: the header alone refuses the config.
    monkeypatch.setattr(bundle, "read_safetensors", lambda *a: pytest.fail("tensors read before the shape check"))
    with pytest.raises(ModelFormatError, match="missing"):
        StyleFusionModel.from_pretrained(tiny_model_dir)


def test_safetensors_header_size_is_capped(tmp_path):
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as fh:  # claims a header just over the cap; the file is sparse
        fh.write(struct.pack("<Q", MAX_HEADER_BYTES + 1))
        fh.truncate(MAX_HEADER_BYTES + 64)
    with pytest.raises(ModelFormatError, match="header claims"):
        read_safetensors(path)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_workflow_file_must_be_a_regular_file(capsys, tmp_path, special):
    if special == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        special = str(tmp_path / "pipe.json")
        os.mkfifo(special)
    elif not os.path.exists(special):
        pytest.skip("no /dev/zero here")
    code, line = one_line(capsys, "run", special, "--output-dir", tmp_path / "out")
    assert code == 3 and "not a regular file" in line and special in line


def test_oversized_workflow_file_is_refused(capsys, tmp_path, monkeypatch):
    from stylefusion.storage import weights

    monkeypatch.setattr(weights, "MAX_JSON_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"nodes": [], "pad": "x" * 2000}))
    code, line = one_line(capsys, "run", path, "--output-dir", tmp_path / "out")
    assert code == 3 and "MB a workflow file may have" in line


def test_tiled_padded_crops_equal_the_padded_image():
    for h, w in [(64, 64), (70, 99), (131, 257)]:
        x = torch.rand(1, 3, h, w)
        full = pad_to_stride(x)
        assert tuple(full.shape[-2:]) == padded_size(h, w)
        for t, l, b, r in [(0, 0, *full.shape[-2:]), (5, 7, 40, 90), (full.shape[-2] - 20, 3, full.shape[-2], 11)]:
            assert torch.equal(full[..., t:b, l:r], padded_crop(x, t, l, b, r))


def test_tiled_transfer_matches_whole_image_with_bounded_buffers(tiny_model, image_factory):
    photo, painting = image_factory(1, 200, 264, seed=1), image_factory(1, 96, 96, seed=2)
    whole = api.transfer(tiny_model, photo, painting, strength=0.7, preserve_color=True)
    tiled = api.transfer(tiny_model, photo, painting, strength=0.7, preserve_color=True, tile_size=96, tile_overlap=32)
    assert (whole - tiled).abs().max() < 2e-3


# -- silent wrong output ----------------------------------------------------------------------------------
def test_nan_model_weights_are_refused(tiny_model, tmp_path):
    with torch.no_grad():
        next(tiny_model.generator.parameters()).view(-1)[0] = float("nan")
    folder = tiny_model.save_pretrained(tmp_path / "nan-model")
    with pytest.raises(ModelFormatError, match="NaN or infinite"):
        StyleFusionModel.from_pretrained(folder)


def test_style_file_with_nan_is_refused(tiny_model, tmp_path):
    vec = torch.randn(1, TINY_CONFIG.style_dim)
    vec[0, 1] = float("inf")
    path = save_style(StyleVector(vec, tiny_model.fingerprint, "tiny", "bad"), tmp_path / "bad")
    with pytest.raises(ModelFormatError, match="NaN or infinite"):
        load_style(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_mix_weights_are_refused(tiny_model, bad):
    s = StyleVector(torch.randn(1, TINY_CONFIG.style_dim), tiny_model.fingerprint, "tiny")
    with pytest.raises(InputError, match="weights"):
        api.mix_styles([s, s], [0.5, bad])


def test_nan_style_vector_is_refused_by_generate(tiny_model, image_factory):
    features = api.extract_features(tiny_model, image_factory())
    s = StyleVector(torch.full((1, TINY_CONFIG.style_dim), float("nan")), tiny_model.fingerprint, "tiny")
    with pytest.raises(InputError, match="style: holds NaN"):
        api.generate(tiny_model, features, s)


def test_integer_images_are_scaled_or_refused(tiny_model, image_factory):
    photo = image_factory()
    as_int = (photo * 255).round().to(torch.int32)
    assert torch.allclose(api.check_image(as_int), photo, atol=0.5 / 255)
    with pytest.raises(InputError, match="not 8-bit"):
        api.check_image(as_int * 4)
    with pytest.raises(InputError, match="not an image"):
        api.check_image(photo > 0.5)
    from stylefusion.nodes.convert import image_to_api

    assert torch.allclose(image_to_api(as_int.permute(0, 2, 3, 1)), photo, atol=0.5 / 255)


def test_misspelt_set_input_is_refused_naming_the_known_inputs(capsys, folder, tmp_path):
    path = invert_graph().save(folder / "wf.json")
    code, line = one_line(capsys, "run", path, "--output-dir", tmp_path / "out", "--set", "2.amout=1.0")
    assert code == 4 and "has no input 'amout'" in line and "amount" in line
    assert not (tmp_path / "out").exists()


# -- tracebacks → one line --------------------------------------------------------------------------------
def test_safetensors_header_that_is_a_json_list(tmp_path):
    path = raw_safetensors(tmp_path / "list.safetensors", [1, 2, 3], b"\0" * 8)
    with pytest.raises(ModelFormatError, match="JSON list"):
        read_safetensors(path)


@pytest.mark.parametrize("patch", [
    lambda g: g._get(2).__setitem__("widgets_values", 5),
    lambda g: g._get(2)["inputs"][0].__setitem__("link", [1, 0]),
    lambda g: g._get(2).__setitem__("inputs", "image"),
])
def test_malformed_ui_values_are_one_line(capsys, folder, tmp_path, patch):
    g = invert_graph()
    patch(g)
    code, line = one_line(capsys, "run", g.save(folder / "wf.json"), "--output-dir", tmp_path / "out")
    assert code in (3, 4) and "node 2" in line or "wf.json" in line


def test_a_graph_deeper_than_the_recursion_limit_runs(folder, tmp_path):
    depth = sys.getrecursionlimit() + 200
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}}}
    for i in range(2, depth + 2):
        prompt[str(i)] = {"class_type": "FakeInvert", "inputs": {"image": [str(i - 1), 0], "amount": 0.0,
                                                                 "seed": 0, "mode": "keep"}}
    prompt[str(depth + 2)] = {"class_type": "SaveImage", "inputs": {"images": [str(depth + 1), 0],
                                                                     "filename_prefix": "deep"}}
    path = folder / "deep.json"
    path.write_text(json.dumps(prompt))
    result = run_workflow(path, output_dir=str(tmp_path / "out"))
    assert len(result.executed) == depth + 2 and len(result.files) == 1


def test_a_long_reroute_chain_is_followed_without_recursion(folder, tmp_path):
    g = invert_graph()
    ui = g.to_json() if hasattr(g, "to_json") else json.loads(open(g.save(folder / "tmp.json")).read())
    image_link = next(l for l in ui["links"] if l[3] == 2)
    n = sys.getrecursionlimit() + 100
    next_id = max(l[0] for l in ui["links"]) + 1
    prev_node, prev_slot = image_link[1], image_link[2]
    for k in range(n):
        nid = 1000 + k
        ui["links"].append([next_id, prev_node, prev_slot, nid, 0, "*"])
        ui["nodes"].append({"id": nid, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": next_id}],
                            "outputs": [{"name": "", "type": "IMAGE", "links": []}]})
        prev_node, prev_slot, next_id = nid, 0, next_id + 1
    image_link[1], image_link[2] = prev_node, prev_slot
    path = folder / "reroutes.json"
    path.write_text(json.dumps(ui))
    assert len(run_workflow(path, output_dir=str(tmp_path / "out")).files) == 1


def test_deeply_nested_json_names_the_file(capsys, tmp_path):
    path = tmp_path / "nested.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    code, line = one_line(capsys, "run", path, "--output-dir", tmp_path / "out")
    assert code == 3 and str(path) in line and "nested too deeply" in line


def test_evaluate_max_content_zero_is_one_line(capsys, tiny_model_dir, tmp_path):
    code, line = one_line(capsys, "evaluate", tiny_model_dir, "--content", tmp_path, "--style", tmp_path,
                          "--out", tmp_path / "eval", "--max-content", "0")
    assert "--max-content" in line


def test_full_disk_while_checkpointing_is_one_line(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_safetensors", full)
    net = torch.nn.Linear(2, 2)
    with pytest.raises(checkpoint.RunFolderError, match="No space left on device.*--resume"):
        checkpoint.save_checkpoint(str(tmp_path), 5, {"nets": net}, {}, {})
    assert not [d for d in os.listdir(tmp_path / "checkpoints") if d.startswith(".tmp-")]


@pytest.mark.parametrize("call", [
    lambda m, img: api.generate(m, None, None),
    lambda m, img: api.generate(None, None, None),
    lambda m, img: api.encode_style(m, None),
    lambda m, img: api.transfer(m, img, None),
    lambda m, img: api.mix_styles([None], [1.0]),
    lambda m, img: api.fuse_features(None, None),
    lambda m, img: api.extract_features(None, img),
])
def test_none_inputs_through_the_api_are_named(tiny_model, image_factory, call):
    with pytest.raises(InputError) as info:
        call(tiny_model, image_factory())
    assert "\n" not in str(info.value) and ":" in str(info.value)


# -- training folders -------------------------------------------------------------------------------------
def bomb_png(path) -> None:
    """A tiny PNG whose header claims 20000×20000 px (over Pillow's decompression-bomb limit)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(open(path, "rb").read())
    data[16:24] = struct.pack(">II", 20000, 20000)
    import zlib

    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    open(path, "wb").write(bytes(data))


def test_decompression_bomb_among_good_images_is_skipped(tmp_path):
    for i in range(3):
        write_picture(tmp_path / f"good{i}.png", seed=i)
    bomb_png(tmp_path / "bomb.png")
    folder = dataset.ImageFolder(str(tmp_path))
    assert len(folder) == 3 and [os.path.basename(p) for p in folder.skipped] == ["bomb.png"]
    with pytest.raises(ValueError, match="bomb.png"):
        dataset.load_rgb(str(tmp_path / "bomb.png"))


def test_symlink_loops_do_not_hang_or_recount(tmp_path):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    for i in range(8):
        write_picture(root / "a" / f"p{i}.png", seed=i)
    os.symlink(root, root / "a" / "loop")  # a loop back to the top
    os.symlink(root / "a", root / "again")  # a second path to the same folder
    assert len(dataset.list_images(str(root))) == 8


def test_resume_on_a_missing_run_folder_is_an_error(tmp_path):
    with pytest.raises(checkpoint.RunFolderError, match="does not exist"):
        checkpoint.prepare_run_dir(str(tmp_path / "missing"), resume=True)
    assert not (tmp_path / "missing").exists()


def test_an_early_error_leaves_no_empty_run_folder(tmp_path):
    from stylefusion.training.config import TrainingConfig
    from stylefusion.training.loop import train

    run_dir = tmp_path / "run"
    with pytest.raises(FileNotFoundError):
        train(TrainingConfig.load("tiny"), str(tmp_path / "no-photos"), str(tmp_path), str(run_dir), 1, progress=False)
    assert not run_dir.exists()


def test_resume_truncates_stats_to_the_checkpoint_and_drops_stray_samples(tmp_path):
    lines = [{"step": s, "g_total": 1.0} for s in (10, 20, 30, 40)]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 5')
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / ".tmp-0123456789abcdef-step-0000040.png").write_bytes(b"half")
    checkpoint.prepare_run_dir(str(tmp_path), resume=True)
    checkpoint.truncate_stats(str(tmp_path), 20)
    steps = [json.loads(l)["step"] for l in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert steps == [10, 20]
    assert os.listdir(tmp_path / "samples") == []


def test_skipped_count_names_each_file_once(tmp_path):
    write_picture(tmp_path / "good.png")
    good = (tmp_path / "good.png").read_bytes()
    for i in range(3):  # valid headers (verify passes), truncated data (decoding fails)
        (tmp_path / f"cut{i}.png").write_bytes(good[: len(good) // 2])
    folder = dataset.ImageFolder(str(tmp_path), cache=False)
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        folder.batch(2, 32, (0.5, 1.0), gen)
    assert len(folder.skipped) == len(set(folder.skipped)) <= 3


# -- smaller ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [230, 240])
def test_long_style_names_save_and_load(tiny_model, isolated_models_dir, length):
    from stylefusion.nodes.styles import StyleFusionSaveStyle

    s = StyleVector(torch.randn(1, TINY_CONFIG.style_dim), tiny_model.fingerprint, "tiny")
    name = "s" * length
    StyleFusionSaveStyle().save(s, name)
    path = paths.find_in(paths.STYLES_KIND, name + ".safetensors")
    assert torch.equal(load_style(path).tensor, s.tensor)


def test_symlinked_model_folders_list_and_load(tiny_model_dir, isolated_models_dir):
    models = isolated_models_dir / "stylefusion"
    models.mkdir()
    os.symlink(tiny_model_dir, models / "linked")
    from stylefusion.storage.loading import load_model

    assert "linked" in paths.list_models()
    assert load_model("linked", device="cpu").config.name == "tiny"


def test_relative_dotdot_image_paths_stay_in_the_input_folder(capsys, folder, tmp_path):
    (folder / "sub").mkdir()
    g = invert_graph()
    g._get(1)["widgets_values"][0] = "../photo.png"
    code, line = one_line(capsys, "run", g.save(folder / "sub" / "wf.json"), "--output-dir", tmp_path / "out")
    assert "points outside the input folder" in line


def test_empty_save_prefix_is_refused(capsys, folder, tmp_path):
    code, line = one_line(capsys, "run", invert_graph(prefix="").save(folder / "wf.json"),
                          "--output-dir", tmp_path / "out")
    assert "filename_prefix" in line
    assert not [n for n in os.listdir(tmp_path / "out") if n.startswith(".")] if (tmp_path / "out").exists() else True


def test_large_photos_need_the_explicit_megapixel_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # stands in for Pillow's 89 MP default
    with pytest.raises(WorkflowError, match="STYLEFUSION_MAX_MEGAPIXELS=1"):
        read_image(str(path))
    monkeypatch.setenv("STYLEFUSION_MAX_MEGAPIXELS", "1")
    image, _ = read_image(str(path))
    assert image.shape == (1, 200, 300, 3)
    assert Image.MAX_IMAGE_PIXELS == 500_001  # raised (never lowered or flipped back) only on the opt-in
