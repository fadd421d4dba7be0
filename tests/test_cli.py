"""``stylefusion run / transfer / fuse``: results, exit codes, and one-line reasons on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from stylefusion import nodes as pack_nodes
from stylefusion.cli import main
from test_runner import FAKES, invert_graph
from test_runner_helpers import png_as_tensor, write_picture


@pytest.fixture(autouse=True)
def fake_nodes(monkeypatch):
    for name, cls in FAKES.items():
        monkeypatch.setitem(pack_nodes.NODE_CLASS_MAPPINGS, name, cls)


@pytest.fixture
def folder(tmp_path):
    write_picture(tmp_path / "photo.png")
    return tmp_path


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_failure(code: int, err: str, expected_code: int, command: str, *needles: str) -> None:
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"stylefusion {command}: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- run ------------------------------------------------------------------------------------------------------
def test_run_writes_outputs_and_lists_them(capsys, folder, tmp_path):
    path = invert_graph().save(folder / "wf.json")
    code, out, err = cli(capsys, "run", path, "--output-dir", tmp_path / "out", "--set", "2.amount=1.0", "-v")
    assert code == 0, err
    saved = tmp_path / "out" / "Test_00001_.png"
    assert saved.is_file() and str(saved.name) in out
    assert "[3/3] node 3 (SaveImage)" in out
    assert torch.allclose(png_as_tensor(saved), 1 - png_as_tensor(folder / "photo.png"), atol=1.5 / 255)


def test_run_input_override_and_input_dir(capsys, folder, tmp_path):
    g = invert_graph()
    g._get(1)["widgets_values"][0] = "elsewhere.png"
    path = g.save(folder / "wf.json")
    other = write_picture(tmp_path / "pics" / "elsewhere.png", 64, 80)
    code, _, err = cli(capsys, "run", path, "--input-dir", tmp_path / "pics", "--output-dir", tmp_path / "a")
    assert code == 0, err
    code, _, err = cli(capsys, "run", path, "-i", f"elsewhere.png={other}", "--output-dir", tmp_path / "b")
    assert code == 0, err
    assert png_as_tensor(tmp_path / "b" / "Test_00001_.png").shape == (64, 80, 3)


def test_run_missing_workflow_file(capsys, tmp_path):
    code, _, err = cli(capsys, "run", tmp_path / "nope.json")
    assert_one_line_failure(code, err, 3, "run", "workflow file not found", "nope.json")


def test_run_invalid_json(capsys, tmp_path):
    (tmp_path / "bad.json").write_text("{\n  \"nodes\": [,]\n}")
    code, _, err = cli(capsys, "run", tmp_path / "bad.json")
    assert_one_line_failure(code, err, 3, "run", "is not valid JSON", "line 2")


def test_run_unknown_node(capsys, folder):
    g = invert_graph()
    g.node(9, "WAS_Image_Blur", [3], properties={"cnr_id": "pr-was-node-suite-comfyui-47064894"})
    code, _, err = cli(capsys, "run", g.save(folder / "wf.json"))
    assert_one_line_failure(code, err, 4, "run", "node 9", "'WAS_Image_Blur'", "pr-was-node-suite-comfyui-47064894")


def test_run_broken_link(capsys, folder):
    g = invert_graph()
    g._get(3)["inputs"][0]["link"] = 77
    code, _, err = cli(capsys, "run", g.save(folder / "wf.json"))
    assert_one_line_failure(code, err, 4, "run", "node 3 (SaveImage)", "input 'images'", "link 77")


def test_run_missing_input_image(capsys, folder):
    g = invert_graph()
    g._get(1)["widgets_values"][0] = "lost.png"
    code, _, err = cli(capsys, "run", g.save(folder / "wf.json"))
    assert_one_line_failure(code, err, 5, "run", "node 1 (LoadImage)", "'lost.png' not found", str(folder))


def test_run_bad_widget_value(capsys, folder):
    g = invert_graph()
    g._get(2)["widgets_values"][0] = 7.5
    code, _, err = cli(capsys, "run", g.save(folder / "wf.json"))
    assert_one_line_failure(code, err, 4, "run", "node 2 (FakeInvert)", "input 'amount'", "between 0.0 and 1.0")


def test_run_node_error(capsys, folder):
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
              "2": {"class_type": "FakeFails", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}}
    (folder / "api.json").write_text(json.dumps(prompt))
    code, _, err = cli(capsys, "run", folder / "api.json", "--output-dir", folder / "out")
    assert_one_line_failure(code, err, 1, "run", "node 2 (FakeFails): image: the image batch is empty")


def test_run_bad_option_syntax_is_a_usage_error(capsys, folder):
    with pytest.raises(SystemExit) as info:
        main(["run", str(folder / "wf.json"), "--input", "no-equals-sign"])
    assert info.value.code == 2
    assert "expected NAME=PATH" in capsys.readouterr().err
    code, _, err = cli(capsys, "run", invert_graph().save(folder / "wf.json"), "--set", "amount")
    assert_one_line_failure(code, err, 4, "run", "TARGET.INPUT=VALUE")


def test_console_entry_point_exit_code_and_stderr(tmp_path):
    done = subprocess.run([sys.executable, "-m", "stylefusion", "run", str(tmp_path / "missing.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stderr.strip() == f"stylefusion run: workflow file not found: {tmp_path / 'missing.json'}"


# -- transfer / fuse ----------------------------------------------------------------------------------------
def test_transfer(capsys, tmp_path, tiny_model_dir):
    content = write_picture(tmp_path / "content.png", 72, 96, seed=1)
    style = write_picture(tmp_path / "style.jpg", 64, 64, seed=2)
    out = tmp_path / "res" / "styled.png"
    code, stdout, err = cli(capsys, "transfer", content, style, "-o", out, "--model", tiny_model_dir,
                            "--strength", "0.8", "--seed", "3", "--preserve-color", "--device", "cpu")
    assert code == 0, err
    assert str(out) in stdout
    result = png_as_tensor(out)
    assert result.shape == (72, 96, 3)
    assert (result - png_as_tensor(content)).abs().mean() > 0.01
    meta = json.loads(Image.open(out).text["stylefusion"])
    assert meta["command"] == "transfer" and meta["strength"] == 0.8 and meta["model"].startswith("tiny [")
    # same inputs, same seed → same picture; tiled rendering works from the command line too
    again = tmp_path / "again.png"
    assert cli(capsys, "transfer", content, style, "-o", again, "--model", tiny_model_dir, "--strength", "0.8",
               "--seed", "3", "--preserve-color")[0] == 0
    assert torch.equal(png_as_tensor(again), result)
    assert cli(capsys, "transfer", content, style, "-o", tmp_path / "tiled.png", "--model", tiny_model_dir,
               "--tile-size", "64", "--tile-overlap", "16")[0] == 0


def test_transfer_rgba_and_grayscale_inputs(capsys, tmp_path, tiny_model_dir):
    content = write_picture(tmp_path / "content.png", 64, 80, mode="RGBA")
    style = write_picture(tmp_path / "style.png", 64, 64, mode="L")
    code, _, err = cli(capsys, "transfer", content, style, "-o", tmp_path / "o.png", "--model", tiny_model_dir)
    assert code == 0, err
    assert png_as_tensor(tmp_path / "o.png").shape == (64, 80, 3)


def test_transfer_errors(capsys, tmp_path, tiny_model_dir):
    content = write_picture(tmp_path / "content.png")
    style = write_picture(tmp_path / "style.png", seed=4)
    out = tmp_path / "o.png"
    code, _, err = cli(capsys, "transfer", tmp_path / "nothing.png", style, "-o", out, "--model", tiny_model_dir)
    assert_one_line_failure(code, err, 5, "transfer", "content: file not found", "nothing.png")
    code, _, err = cli(capsys, "transfer", content, style, "-o", out, "--model", tiny_model_dir, "--strength", "1.5")
    assert_one_line_failure(code, err, 1, "transfer", "strength: 1.5 is out of range")
    code, _, err = cli(capsys, "transfer", content, style, "-o", out, "--model", tmp_path / "no-model")
    assert_one_line_failure(code, err, 1, "transfer", "model", "no-model")
    code, _, err = cli(capsys, "transfer", content, style, "-o", out, "--model", tiny_model_dir, "--tile-size", "8")
    assert_one_line_failure(code, err, 1, "transfer", "--tile-size: 8 is too small")
    code, _, err = cli(capsys, "transfer", content, style, "-o", out, "--model", tiny_model_dir, "--tile-size", "64",
                       "--tile-overlap", "-8")
    assert_one_line_failure(code, err, 1, "transfer", "--tile-overlap: -8 must be 0 or more")
    code, _, err = cli(capsys, "transfer", content, style, "-o", tmp_path / "o.xyz", "--model", tiny_model_dir)
    assert_one_line_failure(code, err, 1, "transfer", "'.xyz' is not an image format")
    write_picture(tmp_path / "small.png", 32, 32)
    code, _, err = cli(capsys, "transfer", tmp_path / "small.png", style, "-o", out, "--model", tiny_model_dir)
    assert_one_line_failure(code, err, 1, "transfer", "content: 32x32 px is too small")
    assert not out.exists()


def test_fuse(capsys, tmp_path, tiny_model_dir):
    a = write_picture(tmp_path / "a.png", 72, 96, seed=1)
    b = write_picture(tmp_path / "b.png", 96, 64, seed=2)
    mask = write_picture(tmp_path / "mask.png", 40, 40, seed=3, mode="L")
    out = tmp_path / "fused.png"
    code, _, err = cli(capsys, "fuse", a, b, "-o", out, "--model", tiny_model_dir, "--weight", "0.3", "--mask", mask,
                       "--style-source", "b", "--seed", "1")
    assert code == 0, err
    result = png_as_tensor(out)
    assert result.shape == (72, 96, 3)  # A's size
    assert (result - png_as_tensor(a)).abs().mean() > 0.01
    code, _, err = cli(capsys, "fuse", a, b, "-o", tmp_path / "plain.png", "--model", tiny_model_dir, "--mode", "stats")
    assert code == 0, err
    assert not torch.equal(png_as_tensor(tmp_path / "plain.png"), result)


def test_fuse_errors(capsys, tmp_path, tiny_model_dir):
    a = write_picture(tmp_path / "a.png")
    b = write_picture(tmp_path / "b.png", seed=2)
    code, _, err = cli(capsys, "fuse", a, b, "-o", tmp_path / "o.png", "--model", tiny_model_dir,
                       "--mask", tmp_path / "nomask.png")
    assert_one_line_failure(code, err, 5, "fuse", "mask: file not found", "nomask.png")
    code, _, err = cli(capsys, "fuse", a, b, "-o", tmp_path / "o.png", "--model", tiny_model_dir, "--weight", "-1")
    assert_one_line_failure(code, err, 1, "fuse", "weight: -1.0 is out of range")
    with pytest.raises(SystemExit):
        main(["fuse", a, b, "-o", str(tmp_path / "o.png"), "--style-source", "c"])
    capsys.readouterr()


def test_transfer_default_model_is_the_bundled_one(capsys, tmp_path, monkeypatch):
    from stylefusion.storage import paths

    monkeypatch.setattr(paths, "BUNDLED_DIR", str(tmp_path / "no-bundled-models"))
    content = write_picture(tmp_path / "content.png")
    code, _, err = cli(capsys, "transfer", content, content, "-o", tmp_path / "o.png")
    assert_one_line_failure(code, err, 1, "transfer", "no bundled model is installed")


def test_transfer_of_an_animation_writes_one_file_per_frame(capsys, tmp_path, tiny_model_dir):
    frames = [Image.open(write_picture(tmp_path / f"f{i}.png", 64, 80, seed=i)) for i in range(2)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    style = write_picture(tmp_path / "style.png", seed=5)
    code, out, err = cli(capsys, "transfer", tmp_path / "anim.png", style, "-o", tmp_path / "o.png",
                         "--model", tiny_model_dir)
    assert code == 0, err
    assert out.split() == [str(tmp_path / "o_00001.png"), str(tmp_path / "o_00002.png")]
    assert png_as_tensor(tmp_path / "o_00002.png").shape == (64, 80, 3)
