"""Hub sources, caching, validation and publishing, against the real huggingface_hub client.

Every test here talks to ``tests/fake_hub.py`` on 127.0.0.1 (``HF_ENDPOINT`` points at it); nothing
reaches the internet. ``hub.requests`` is the server's log, so "no request was made" is checked
directly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading

import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import save_file

from stylefusion.cli import main as cli_main
from stylefusion.models import TINY_CONFIG, StyleFusionModel, StyleVector
from stylefusion.storage import hub_download as sf_hub
from stylefusion.storage import hub_publish
from stylefusion.storage import loading as sources
from stylefusion.networks.errors import InputError, ModelFormatError, ModelNotFoundError
from stylefusion.storage.hub_names import parse_hub_source
from stylefusion.storage.style_file import load_style, save_style

from fake_hub import FakeHub  # tests/ is on sys.path (pytest rootdir conftest)

WANTED = {"config.json", "model.safetensors", "README.md"}


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def hf_home(tmp_path_factory):
    return tmp_path_factory.mktemp("hf-home")


@pytest.fixture
def hub(monkeypatch, hf_home):
    """A running fake Hub; huggingface_hub (env and its import-time constants) points at it, online."""
    monkeypatch.setenv("HF_HOME", str(hf_home))  # hf_xet (upload) writes its logs there, not in ~/.cache
    monkeypatch.setenv("HF_XET_CACHE", str(hf_home / "xet"))
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_TOKEN", "hf_test_read_token")  # never read a real login during tests
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield server
        assert not server.unhandled, f"huggingface_hub called endpoints the fake hub does not know: {server.unhandled}"


def go_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _model_files(folder, seed: int, config=TINY_CONFIG) -> dict[str, bytes]:
    torch.manual_seed(seed)
    StyleFusionModel(config).save_pretrained(folder)
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.fixture(scope="module")
def repo_files(tmp_path_factory) -> dict[str, bytes]:
    """config.json, model.safetensors, README.md of a tiny random model (seed 0)."""
    return _model_files(tmp_path_factory.mktemp("repo-a"), 0)


@pytest.fixture(scope="module")
def other_files(tmp_path_factory) -> dict[str, bytes]:
    """The same architecture with other weights (seed 1): a second revision."""
    return _model_files(tmp_path_factory.mktemp("repo-b"), 1)


def fingerprint_of(files: dict[str, bytes], tmp_path) -> str:
    folder = tmp_path / f"fp-{len(os.listdir(tmp_path))}"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return StyleFusionModel.from_pretrained(folder).fingerprint


def models_folder(root) -> str:
    return os.path.join(str(root), "stylefusion")


def leftovers(folder: str) -> list[str]:
    """Staging folders or partial files left behind."""
    if not os.path.isdir(folder):
        return []
    return [n for n in os.listdir(folder) if n.startswith(".download") or n.endswith(".incomplete")]


# -- download ---------------------------------------------------------------------------------------
def test_first_download_fetches_only_model_files_and_records_the_commit(hub, repo_files, isolated_models_dir, tmp_path):
    sha = hub.commit("alice/tiny", {**repo_files, "pytorch_model.bin": b"\x80\x04pickle", "notes.txt": b"hi",
                                    "training/optimizer.ckpt": b"\x80\x04",
                                    "checkpoints/step_1000.safetensors": b"not part of the model"})
    progress: list[tuple[int, int]] = []

    model = sources.load_model("alice/tiny", device="cpu", progress=lambda done, total: progress.append((done, total)))

    folder = os.path.join(models_folder(isolated_models_dir), "alice--tiny")
    assert model.source == folder
    assert model.fingerprint == fingerprint_of(repo_files, tmp_path)
    assert set(os.listdir(folder)) == WANTED | {sf_hub.SOURCE_RECORD}
    record = json.loads(open(os.path.join(folder, sf_hub.SOURCE_RECORD)).read())
    assert record["repo_id"] == "alice/tiny" and record["commit"] == sha and record["revision"] is None
    assert set(record["files"]) == WANTED
    assert record["files"]["model.safetensors"]["size"] == len(repo_files["model.safetensors"])
    fetched = hub.paths_requested("GET")
    assert not [p for p in fetched if p.endswith((".bin", ".ckpt", ".txt"))], "pickles and other files are never fetched"
    assert not [p for p in fetched if "checkpoints/" in p], "only top-level files make up the model"
    assert all(f"/resolve/{sha}/" in p for p in fetched if "/resolve/" in p), "files come from the resolved commit"
    total = sum(len(repo_files[n]) for n in WANTED)
    assert progress and progress[-1] == (total, total)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert leftovers(models_folder(isolated_models_dir)) == []


def test_second_load_makes_no_request(hub, repo_files, other_files):
    hub.commit("alice/tiny", repo_files)
    first = sources.load_model("alice/tiny", device="cpu")
    hub.commit("alice/tiny", other_files)  # main moves on: the local copy is still the one used
    sources.clear_cache()
    hub.reset_log()

    again = sources.load_model("alice/tiny", device="cpu")
    assert sf_hub.ensure_model(parse_hub_source("alice/tiny")) == again.source

    assert hub.requests == []
    assert again.fingerprint == first.fingerprint


def test_revision_pinning_by_branch_and_by_commit(hub, repo_files, other_files, isolated_models_dir, tmp_path):
    first_sha = hub.commit("alice/tiny", repo_files)
    v2_sha = hub.commit("alice/tiny", other_files, branch="v2")

    by_branch = sources.load_model("alice/tiny@v2", device="cpu")
    by_commit = sources.load_model(f"alice/tiny@{first_sha}", device="cpu")
    default = sources.load_model("alice/tiny", device="cpu")

    assert by_branch.fingerprint == fingerprint_of(other_files, tmp_path)
    assert by_commit.fingerprint == default.fingerprint == fingerprint_of(repo_files, tmp_path)
    root = models_folder(isolated_models_dir)
    assert sorted(os.listdir(root)) == sorted(["alice--tiny", "alice--tiny@v2", f"alice--tiny@{first_sha}"])
    assert sf_hub.read_source_record(os.path.join(root, "alice--tiny@v2"))["commit"] == v2_sha
    assert sf_hub.read_source_record(os.path.join(root, "alice--tiny@v2"))["revision"] == "v2"
    assert sf_hub.read_source_record(os.path.join(root, f"alice--tiny@{first_sha}"))["commit"] == first_sha


def test_branch_with_slash_stays_inside_the_models_folder(hub, repo_files, isolated_models_dir):
    hub.commit("alice/tiny", repo_files, branch="feature/warm")
    path = sf_hub.ensure_model("alice/tiny@feature/warm")
    assert path == os.path.join(models_folder(isolated_models_dir), "alice--tiny@feature_warm")
    assert hub.paths_requested("GET")[0] == "/api/models/alice/tiny/revision/feature%2Fwarm"  # quoted, as the Hub expects


def test_offline_loads_a_local_copy_without_requests(hub, repo_files, monkeypatch):
    hub.commit("alice/tiny", repo_files)
    sources.load_model("alice/tiny", device="cpu")
    sources.clear_cache()
    go_offline(monkeypatch)
    hub.reset_log()

    assert sources.load_model("alice/tiny", device="cpu").config.name == "tiny"
    assert hub.requests == []


def test_offline_without_local_copy_is_one_clear_error(hub, repo_files, monkeypatch, isolated_models_dir):
    hub.commit("alice/tiny", repo_files)
    go_offline(monkeypatch)

    with pytest.raises(ModelNotFoundError) as err:
        sources.load_model("alice/tiny@v1", device="cpu")

    message = str(err.value)
    assert "alice/tiny@v1" in message and "HF_HUB_OFFLINE" in message
    assert "stylefusion download alice/tiny@v1" in message
    assert os.path.join(models_folder(isolated_models_dir), "alice--tiny@v1") in message
    assert err.value.__context__ is None  # one error, not a chain of huggingface_hub tracebacks
    os.makedirs(os.path.join(models_folder(isolated_models_dir), "alice--tiny@v1"))  # a half-copied folder
    with pytest.raises(ModelNotFoundError, match=r"alice--tiny@v1 exists but lacks config.json or model.safetensors"):
        sources.load_model("alice/tiny@v1", device="cpu")
    assert hub.requests == []


def test_unreachable_hub_is_the_same_clear_error(hub, monkeypatch, isolated_models_dir):
    hub.stop()  # connection refused on that port from now on
    with pytest.raises(ModelNotFoundError, match=r"cannot be reached.*stylefusion download alice/tiny"):
        sf_hub.ensure_model("alice/tiny")
    assert leftovers(models_folder(isolated_models_dir)) == []


def test_missing_repo_and_missing_revision(hub, repo_files, isolated_models_dir):
    with pytest.raises(ModelNotFoundError, match=r"alice/nothing was not found"):
        sources.load_model("alice/nothing", device="cpu")
    hub.commit("alice/tiny", repo_files)
    with pytest.raises(ModelNotFoundError, match=r"alice/tiny has no revision 'v9'"):
        sf_hub.ensure_model("alice/tiny@v9")
    assert os.listdir(models_folder(isolated_models_dir)) == []


def _broken(files: dict[str, bytes], kind: str) -> dict[str, bytes]:
    bad = dict(files)
    if kind == "truncated":
        bad["model.safetensors"] = files["model.safetensors"][: len(files["model.safetensors"]) // 2]
    elif kind == "not-safetensors":
        bad["model.safetensors"] = b"PK\x03\x04" + os.urandom(2000)  # a torch zip/pickle under the wrong name
    elif kind == "newer-config":
        config = json.loads(files["config.json"])
        bad["config.json"] = json.dumps({**config, "format_version": 99}).encode()
    elif kind == "wrong-shapes":
        bad["config.json"] = dataclasses.replace(TINY_CONFIG, style_dim=TINY_CONFIG.style_dim * 2).to_json().encode()
    return bad


@pytest.mark.parametrize("kind,reason", [
    ("truncated", "truncated"),
    ("not-safetensors", "safetensors"),
    ("newer-config", "format_version 99"),
    ("wrong-shapes", "shape"),
])
def test_bad_files_are_refused_and_never_left_in_place(hub, repo_files, isolated_models_dir, kind, reason):
    sha = hub.commit("alice/broken", _broken(repo_files, kind))

    for _ in range(2):  # the second attempt downloads again and fails again: nothing bad was kept
        hub.reset_log()
        with pytest.raises(ModelFormatError) as err:
            sources.load_model("alice/broken", device="cpu")
        message = str(err.value)
        assert "alice/broken" in message and sha[:12] in message and reason in message
        assert "nothing was installed" in message and ".download-" not in message
        assert any(p.endswith("/model.safetensors") for p in hub.paths_requested("GET"))

    root = models_folder(isolated_models_dir)
    assert os.listdir(root) == [], "neither the bad files nor a staging folder are left behind"


def test_repo_with_only_pickle_weights_is_refused_without_fetching_them(hub, repo_files):
    hub.commit("alice/pickled", {"config.json": repo_files["config.json"], "pytorch_model.bin": b"\x80\x04evil"})
    with pytest.raises(ModelFormatError, match=r"only pickle weights \(pytorch_model.bin\).*only \.safetensors"):
        sources.load_model("alice/pickled", device="cpu")
    assert not [p for p in hub.paths_requested() if "/resolve/" in p]


def test_repo_without_a_model_is_refused(hub, repo_files):
    hub.commit("alice/empty", {"README.md": b"# nothing here"})
    with pytest.raises(ModelFormatError, match=r"not a StyleFusion model: it has no config.json and model.safetensors"):
        sf_hub.ensure_model("alice/empty")


def test_two_loads_at_once_download_once(hub, repo_files):
    sha = hub.commit("alice/tiny", repo_files)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(sf_hub.ensure_model("alice/tiny"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 3 and len(set(results)) == 1
    assert hub.paths_requested("GET").count(f"/alice/tiny/resolve/{sha}/model.safetensors") == 1


def test_cancelled_download_leaves_nothing(hub, repo_files, isolated_models_dir):
    """ComfyUI's ProgressBar raises when the user presses Cancel; the half-done download disappears."""
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done > 1000:
            raise Cancelled

    hub.commit("alice/tiny", repo_files)
    with pytest.raises(Cancelled):
        sf_hub.ensure_model("alice/tiny", progress=cancel)
    assert os.listdir(models_folder(isolated_models_dir)) == []
    assert sf_hub.local_model_path("alice/tiny") is None


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "../../x", "/etc/passwd", "owner/../x", "../owner/name", "a/b/c", "owner/name@../../x", "owner/name@/abs",
    "own er/name", "owner/na\x00me", ".hidden/name", "owner--x/name", "C:/models/x", "owner\\name",
])
def test_hostile_model_names_never_reach_disk_or_network(hub, text, isolated_models_dir):
    assert parse_hub_source(text) is None
    with pytest.raises((InputError, ModelNotFoundError)):
        sources.resolve_model_path(text)
    assert hub.requests == []
    assert not os.path.exists(os.path.join(str(isolated_models_dir), "..", "x"))


@pytest.mark.parametrize("text", [
    "alice/styles:../../evil.safetensors", "alice/styles:/abs/evil.safetensors", "alice/styles:styles/x.bin",
    "alice/styles:styles/x.pt", "alice/styles:.hidden/x.safetensors", "alice/styles:a\\..\\b.safetensors",
    "alice/styles:a//b.safetensors", "alice/styles@../x:a.safetensors", "../alice/styles:a.safetensors",
    "alice/styles:", "alice/styles:C:/x.safetensors",
])
def test_hostile_style_sources_are_refused_before_any_request(hub, text):
    with pytest.raises(InputError):
        sf_hub.ensure_style(text)
    assert hub.requests == []


def test_hostile_file_names_in_a_repo_listing_are_not_followed(hub, repo_files, isolated_models_dir, tmp_path):
    hub.commit("alice/tricky", {**repo_files, "../../escaped.safetensors": b"x", "sub/../../up.safetensors": b"y",
                                ".hidden.safetensors": b"z"})
    path = sf_hub.ensure_model("alice/tricky")
    assert set(os.listdir(path)) == WANTED | {sf_hub.SOURCE_RECORD}
    assert not [p for p in hub.paths_requested() if "escaped" in p or "up.safetensors" in p or ".hidden" in p]
    assert not os.path.exists(os.path.join(str(isolated_models_dir), "escaped.safetensors"))


# -- styles -----------------------------------------------------------------------------------------
def _style_bytes(tmp_path, name: str, fingerprint: str = "0123456789abcdef") -> bytes:
    vector = StyleVector(torch.randn(1, TINY_CONFIG.style_dim), fingerprint, "tiny", name)
    return open(save_style(vector, tmp_path / f"{name}.safetensors", source="test"), "rb").read()


def test_style_is_downloaded_once_validated_and_recorded(hub, tmp_path, isolated_models_dir):
    sha = hub.commit("alice/styles", {"styles/warm.safetensors": _style_bytes(tmp_path, "warm"),
                                      "styles/cold.safetensors": _style_bytes(tmp_path, "cold")})

    path = sf_hub.ensure_style("alice/styles:styles/warm.safetensors")

    assert path == os.path.join(str(isolated_models_dir), "stylefusion_styles", "alice--styles", "styles", "warm.safetensors")
    assert load_style(path).name == "warm"
    record = sf_hub.read_source_record(os.path.join(str(isolated_models_dir), "stylefusion_styles", "alice--styles"))
    assert record["files"]["styles/warm.safetensors"]["commit"] == sha
    assert not [p for p in hub.paths_requested() if p.endswith("cold.safetensors")], "only the asked-for file"
    hub.reset_log()
    assert sf_hub.ensure_style("alice/styles:styles/warm.safetensors") == path
    assert hub.requests == []


def test_style_pinned_revision_gets_its_own_folder(hub, tmp_path, isolated_models_dir):
    hub.commit("alice/styles", {"warm.safetensors": _style_bytes(tmp_path, "warm-main")})
    hub.commit("alice/styles", {"warm.safetensors": _style_bytes(tmp_path, "warm-v2")}, branch="v2")
    assert load_style(sf_hub.ensure_style("alice/styles@v2:warm.safetensors")).name == "warm-v2"
    assert load_style(sf_hub.ensure_style("alice/styles:warm.safetensors")).name == "warm-main"
    assert "alice--styles@v2" in sf_hub.local_style_path("alice/styles@v2:warm.safetensors")


def test_bad_or_missing_style_files(hub, tmp_path, isolated_models_dir, monkeypatch):
    good = _style_bytes(tmp_path, "warm")
    save_file({"weights": torch.zeros(2, 3)}, str(tmp_path / "other.safetensors"))  # valid safetensors, not a style
    hub.commit("alice/styles", {"warm.safetensors": good, "broken.safetensors": good[: len(good) - 7],
                                "notastyle.safetensors": (tmp_path / "other.safetensors").read_bytes()})
    with pytest.raises(ModelFormatError, match=r"broken.safetensors .*not installed"):
        sf_hub.ensure_style("alice/styles:broken.safetensors")
    with pytest.raises(ModelFormatError, match=r"not a StyleFusion style file"):
        sf_hub.ensure_style("alice/styles:notastyle.safetensors")
    with pytest.raises(ModelNotFoundError, match=r"has no file 'gone.safetensors'.*warm.safetensors"):
        sf_hub.ensure_style("alice/styles:gone.safetensors")
    styles = os.path.join(str(isolated_models_dir), "stylefusion_styles")
    assert [f for _, _, files in os.walk(styles) for f in files] == []
    assert leftovers(styles) == []

    go_offline(monkeypatch)
    with pytest.raises(ModelNotFoundError, match=r"stylefusion download alice/styles:warm.safetensors"):
        sf_hub.ensure_style("alice/styles:warm.safetensors")


# -- publishing -------------------------------------------------------------------------------------
def test_push_model_uploads_only_the_model_files(hub, tiny_model_dir, tmp_path):
    (tmp_path / "tiny-model" / "optimizer.pt").write_bytes(b"\x80\x04")
    (tmp_path / "tiny-model" / "notes.txt").write_text("private notes")

    result = hub_publish.push_model(tiny_model_dir, "bob/tiny", private=True, token="hf_write_token")

    uploaded = hub.files("bob/tiny")
    assert set(uploaded) == WANTED | {".gitattributes"}
    for name in WANTED:
        assert uploaded[name] == open(os.path.join(tiny_model_dir, name), "rb").read()
    assert hub.repos["bob/tiny"].private
    assert result.commit == hub.repos["bob/tiny"].branches["main"] and result.revision == "main"
    commit_headers = [h for (m, p), h in zip(hub.requests, hub.headers) if p.endswith("/commit/main")]
    assert commit_headers and commit_headers[0]["authorization"] == "Bearer hf_write_token"


def test_push_to_a_branch_then_download_it(hub, tiny_model_dir, tiny_model):
    hub_publish.push_model(tiny_model_dir, "bob/tiny")
    hub.commit("bob/tiny", {"README.md": b"# main changed"})
    hub_publish.push_model(tiny_model_dir, "bob/tiny", revision="v2", commit_message="v2 weights")

    assert set(hub.files("bob/tiny", "v2")) >= WANTED
    assert hub.repos["bob/tiny"].messages[hub.repos["bob/tiny"].branches["v2"]] == "v2 weights"
    assert sources.load_model("bob/tiny@v2", device="cpu").fingerprint == tiny_model.fingerprint


def test_push_refuses_a_folder_that_is_not_a_model(hub, tmp_path, repo_files):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_bytes(repo_files["config.json"])
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ModelFormatError, match=r"refusing to upload .*only \.safetensors"):
        hub_publish.push_model(str(folder), "bob/bad")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name, data in _broken(repo_files, "truncated").items():
        (broken / name).write_bytes(data)
    with pytest.raises(ModelFormatError, match=r"refusing to upload"):
        hub_publish.push_model(str(broken), "bob/bad")
    with pytest.raises(InputError, match=r"--repo-id"):
        hub_publish.push_model(str(broken), "bob/bad@v1")
    assert hub.requests == []


def test_push_styles_uploads_a_style_pack_with_a_card(hub, tmp_path):
    pack = tmp_path / "pack"
    (pack / "painters").mkdir(parents=True)
    (pack / "painters" / "monet.safetensors").write_bytes(_style_bytes(tmp_path, "monet"))
    (pack / "ink.safetensors").write_bytes(_style_bytes(tmp_path, "ink"))
    (pack / "scratch.txt").write_text("not uploaded")
    (pack / "old.pt").write_bytes(b"\x80\x04")

    result = hub_publish.push_styles(str(pack), "bob/styles")

    uploaded = hub.files("bob/styles")
    assert set(uploaded) == {".gitattributes", "README.md", "ink.safetensors", "painters/monet.safetensors"}
    assert "bob/styles:ink.safetensors" in uploaded["README.md"].decode()
    assert set(result.files) == {"README.md", "ink.safetensors", "painters/monet.safetensors"}
    # and it round-trips as a Hub style source
    assert load_style(sf_hub.ensure_style("bob/styles:painters/monet.safetensors")).name == "monet"


def test_push_styles_refuses_empty_or_broken_packs(hub, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no styles")
    with pytest.raises(ModelFormatError, match=r"holds no style files"):
        hub_publish.push_styles(str(empty), "bob/styles")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "good.safetensors").write_bytes(_style_bytes(tmp_path, "good"))
    (bad / "bad.safetensors").write_bytes(b"\x00" * 50)
    with pytest.raises(ModelFormatError, match=r"bad.safetensors is not a valid StyleFusion style file"):
        hub_publish.push_styles(str(bad), "bob/styles")
    assert hub.requests == []


# -- CLI --------------------------------------------------------------------------------------------
def test_download_cli_fetches_for_offline_use(hub, repo_files, tmp_path, capsys, monkeypatch):
    sha = hub.commit("alice/tiny", repo_files)
    comfy_models = tmp_path / "ComfyUI" / "models"

    assert cli_main(["download", "alice/tiny", "--models-dir", str(comfy_models)]) == 0
    out = capsys.readouterr().out
    folder = comfy_models / "stylefusion" / "alice--tiny"
    assert f"commit {sha[:12]}" in out and str(folder) in out
    assert set(os.listdir(folder)) == WANTED | {sf_hub.SOURCE_RECORD}

    go_offline(monkeypatch)
    hub.reset_log()
    assert cli_main(["download", "alice/tiny", "--models-dir", str(comfy_models / "stylefusion")]) == 0
    assert "already there" in capsys.readouterr().out
    assert hub.requests == []


def test_download_cli_styles_update_and_errors(hub, repo_files, tmp_path, capsys, isolated_models_dir):
    hub.commit("alice/styles", {"s/warm.safetensors": _style_bytes(tmp_path, "warm")})
    assert cli_main(["download", "alice/styles:s/warm.safetensors"]) == 0
    assert os.path.join("stylefusion_styles", "alice--styles", "s", "warm.safetensors") in capsys.readouterr().out

    hub.commit("alice/tiny", repo_files)
    assert cli_main(["download", "alice/tiny"]) == 0
    new_sha = hub.commit("alice/tiny", {"README.md": b"# updated card"})
    capsys.readouterr()
    assert cli_main(["download", "alice/tiny", "--update"]) == 0
    assert f"downloaded, commit {new_sha[:12]}" in capsys.readouterr().out
    folder = os.path.join(models_folder(isolated_models_dir), "alice--tiny")
    assert open(os.path.join(folder, "README.md")).read() == "# updated card"
    assert leftovers(models_folder(isolated_models_dir)) == []

    assert cli_main(["download", "alice/nothing"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylefusion download: model: Hub repo alice/nothing was not found") and "\n" not in err


def test_push_cli(hub, tiny_model_dir, tmp_path, capsys):
    assert cli_main(["push", tiny_model_dir, "--repo-id", "bob/cli", "--revision", "dev", "--token", "hf_cli"]) == 0
    assert "bob/cli@dev" in capsys.readouterr().out
    assert set(hub.files("bob/cli", "dev")) >= WANTED
    assert cli_main(["push", str(tmp_path), "--repo-id", "bob/cli"]) == 1
    assert "refusing to upload" in capsys.readouterr().err


# -- style packs (issue 11) -------------------------------------------------------------------------
def test_style_pack_round_trip_push_download_list_use_refuse_offline(hub, tmp_path, tiny_model, isolated_models_dir,
                                                                    capsys, monkeypatch):
    from stylefusion.storage.presets import list_presets, load_preset, model_styles_folder
    from stylefusion.networks.errors import ModelMismatchError
    from stylefusion.nodes import NODE_CLASS_MAPPINGS
    from stylefusion.presets.build import build_presets

    folder = tiny_model.save_pretrained(isolated_models_dir / "stylefusion" / "tiny")  # found by its fingerprint
    styles = model_styles_folder(folder)
    entries = build_presets(tiny_model, styles)
    assert cli_main(["push-styles", styles, "--repo-id", "bob/pack"]) == 0
    uploaded = hub.files("bob/pack")
    index = json.loads(uploaded["presets.json"])
    assert index["model_fingerprint"] == tiny_model.fingerprint and len(index["presets"]) == len(entries)
    for entry in index["presets"]:
        assert entry["file"] in uploaded and entry["thumbnail"] in uploaded and entry["sources"][0]["credit"]
    assert "stylefusion download bob/pack" in uploaded["README.md"].decode()

    # fetched whole into the styles folder
    assert cli_main(["download", "bob/pack"]) == 0
    assert "bob/pack:<name>" in capsys.readouterr().out
    pack = isolated_models_dir / "stylefusion_styles" / "bob--pack"
    assert {e["thumbnail"].split("/")[1] for e in index["presets"]} == set(os.listdir(pack / "thumbnails"))

    # listed beside the bundled presets, in the preset node, in Load Style and in `styles list`
    model = StyleFusionModel.from_pretrained(folder)
    names = [p.name for p in list_presets(model)]
    assert "van_gogh" in names and "bob/pack:van_gogh" in names
    node = NODE_CLASS_MAPPINGS["StyleFusionStylePreset"]
    choices = node.INPUT_TYPES()["required"]["preset"][0]
    assert "van_gogh" in choices and "bob/pack:hokusai" in choices
    assert "bob--pack/hokusai.safetensors" in NODE_CLASS_MAPPINGS["StyleFusionLoadStyle"].INPUT_TYPES()["required"]["style"][0]
    assert cli_main(["styles", "list"]) == 0
    assert any(line.startswith("bob/pack:hokusai\t") for line in capsys.readouterr().out.splitlines())

    # used with its model, refused with another, offline once downloaded
    (style,) = getattr(node(), node.FUNCTION)(model=model, preset="bob/pack:hokusai")
    assert style.model_fingerprint == tiny_model.fingerprint
    other = StyleFusionModel(TINY_CONFIG.replace(name="other-tiny"))
    with pytest.raises(ModelMismatchError) as err:
        load_preset(other, "bob/pack:hokusai")
    assert "other-tiny" in str(err.value) and tiny_model.config.name in str(err.value)
    go_offline(monkeypatch)
    hub.reset_log()
    assert load_preset(model, "bob/pack:van_gogh").tensor.shape == (1, TINY_CONFIG.style_dim)
    assert cli_main(["download", "bob/pack"]) == 0
    assert "already there" in capsys.readouterr().out
    assert hub.requests == []


def test_pack_errors_are_clear(hub, tmp_path, tiny_model, isolated_models_dir, capsys):
    from stylefusion.presets.build import pack_files

    loose = tmp_path / "loose"
    loose.mkdir()
    save_style(StyleVector(torch.randn(1, TINY_CONFIG.style_dim), tiny_model.fingerprint, "tiny", "warm"),
               loose / "warm.safetensors")
    with pytest.raises(InputError, match=r"not bundled or in the models folder; give it with --model"):
        pack_files(str(loose))
    save_style(StyleVector(torch.randn(1, TINY_CONFIG.style_dim), "f" * 16, "else", "cold"), loose / "cold.safetensors")
    with pytest.raises(InputError, match=r"one model"):
        pack_files(str(loose), tiny_model)
    hub.commit("bob/not-a-pack", {"warm.safetensors": (loose / "warm.safetensors").read_bytes()})
    with pytest.raises(ModelFormatError, match=r"not a StyleFusion style pack"):
        sf_hub.ensure_pack("bob/not-a-pack")
    index = {"format": 1, "model_name": "tiny", "model_fingerprint": "0" * 16,
             "presets": [{"name": "warm", "file": "warm.safetensors"}]}
    hub.commit("bob/lying-pack", {"presets.json": json.dumps(index).encode(),
                                  "warm.safetensors": (loose / "warm.safetensors").read_bytes()})
    with pytest.raises(ModelFormatError, match=r"nothing was installed"):
        sf_hub.ensure_pack("bob/lying-pack")
    assert not os.path.exists(isolated_models_dir / "stylefusion_styles" / "bob--lying-pack")
