"""storage/paths.py: the one home of the rules for names inside folders and for writing folders."""

from __future__ import annotations

import os

import pytest

from stylefusion.storage import paths


def test_models_dir_names_the_root_or_the_kind_folder_itself(tmp_path):
    assert paths.folders(paths.STYLES_KIND, str(tmp_path)) == [str(tmp_path / paths.STYLES_KIND)]
    kind_folder = str(tmp_path / paths.MODELS_KIND)
    assert paths.folders(paths.MODELS_KIND, kind_folder) == [kind_folder]
    assert os.path.isdir(paths.write_folder(paths.STYLES_KIND, str(tmp_path)))


@pytest.mark.parametrize("name, inside", [("a/b.png", True), (".", True), ("../a.png", False), ("a/../../b", False)])
def test_is_inside_is_lexical(tmp_path, name, inside):
    assert paths.is_inside(str(tmp_path), os.path.join(str(tmp_path), name)) is inside


@pytest.mark.parametrize("path", ["", " a.safetensors", "a\\b.safetensors", "c:a", "/a", "a//b", "a/./b", "a/../b",
                                  ".hidden/a", "a\x00b"])
def test_repo_paths_that_cannot_be_mirrored_say_why(path):
    assert paths.relative_path_problem(path)


def test_plain_repo_paths_are_fine():
    assert paths.relative_path_problem("styles/van gogh/night.safetensors") is None


def test_a_staged_folder_replaces_the_old_copy_and_the_staging_folder_goes(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with paths.staging_folder(str(tmp_path)) as staging:
        staged = os.path.join(staging, "files")
        os.makedirs(staged)
        open(os.path.join(staged, "new.txt"), "w").close()
        paths.install_folder(staged, str(target), staging, is_complete=lambda folder: False)
    assert os.listdir(target) == ["new.txt"] and os.listdir(tmp_path) == ["model"]


@pytest.mark.parametrize("theirs_complete", [True, False])
def test_a_copy_another_writer_installed_meanwhile_is_kept_if_complete(tmp_path, monkeypatch, theirs_complete):
    target = str(tmp_path / "model")
    real_rename = os.rename

    def rival_first(src, dst):  # another process installs its copy just before our rename
        if dst == target:
            os.makedirs(os.path.join(target, "theirs"))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rival_first)
    with paths.staging_folder(str(tmp_path)) as staging:
        os.makedirs(os.path.join(staging, "files", "ours"))
        if theirs_complete:
            paths.install_folder(os.path.join(staging, "files"), target, staging, is_complete=os.path.isdir)
        else:
            with pytest.raises(OSError):
                paths.install_folder(os.path.join(staging, "files"), target, staging, is_complete=lambda f: False)
    assert os.listdir(target) == ["theirs"]
