"""One set of decoding rules for the runner and training; training batches that workers build ahead."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from stylefusion.runner.images import read_image
from stylefusion.storage.images import load_rgb, to_pil
from stylefusion.training.dataset import ImageFolder, StepBatches, prefetch

from test_runner_helpers import write_picture


def rotated_jpeg(path) -> str:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    return write_picture(path, 72, 96, exif=exif.tobytes())


def test_training_and_the_runner_see_a_rotated_photo_the_same_way_up(tmp_path):
    path = rotated_jpeg(tmp_path / "rotated.jpg")
    pixels = load_rgb(path)
    assert pixels.shape == (3, 96, 72) and pixels.dtype == torch.uint8
    image, _ = read_image(path)
    assert torch.equal(pixels.permute(1, 2, 0).float() / 255, image[0])


def test_training_scales_16_bit_pictures_to_8_bit(tmp_path):
    Image.fromarray(np.tile(np.linspace(0, 65535, 96), (72, 1)).astype(np.uint16)).save(tmp_path / "deep.png")
    pixels = load_rgb(str(tmp_path / "deep.png"))
    assert pixels[0, 0, 0] == 0 and pixels[0, 0, -1] == 255


def test_to_pil_takes_a_frame_or_the_model_api_batch_of_one():
    frame = torch.rand(5, 7, 3)
    assert np.array_equal(np.asarray(to_pil(frame)), np.asarray(to_pil(frame.permute(2, 0, 1)[None])))
    assert to_pil(frame).size == (7, 5) and to_pil(frame[..., 0]).mode == "L"
    assert np.asarray(to_pil(torch.full((2, 2, 3), 0.999)))[0, 0, 0] == 254  # truncated, as ComfyUI saves


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("batches")
    for i in range(4):
        write_picture(root / "content" / f"c{i}.png", 40, 48, seed=i)
        write_picture(root / "style" / f"s{i}.jpg", 48, 40, seed=10 + i)
    rotated_jpeg(root / "content" / "rotated.jpg")
    (root / "style" / "cut.png").write_bytes((root / "content" / "c0.png").read_bytes()[:200])
    return ImageFolder(str(root / "content")), ImageFolder(str(root / "style"))


def test_workers_deliver_in_order_the_batches_built_in_process(folders):
    batches = StepBatches(*folders, batch_size=3, crop_size=16, crop_scale=(0.3, 1.0), seed=5, rank=0)
    here = list(prefetch(batches, range(3, 9), workers=0))
    ahead = list(prefetch(batches, range(3, 9), workers=2))
    assert [b.step for b in ahead] == list(range(3, 9))
    for a, b in zip(here, ahead):
        assert torch.equal(a.content, b.content) and torch.equal(a.style, b.style)
        assert torch.equal(a.generator().get_state(), b.generator().get_state())
    # A step's batch depends on the step alone: building step 6 first (as a resumed run does) changes nothing.
    assert torch.equal(batches[6].content, here[3].content)
    assert a.content.shape == (3, 3, 16, 16)


def test_an_empty_range_of_steps_starts_no_workers(folders):
    batches = StepBatches(*folders, batch_size=1, crop_size=16, crop_scale=(0.3, 1.0), seed=0, rank=0)
    assert list(prefetch(batches, range(4, 4), workers=2)) == []
