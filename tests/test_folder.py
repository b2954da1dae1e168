"""A folder of the reader's own images: finding, decoding, resizing, skipping bad files, and
keeping the images in memory or streaming them from disk."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ganbook.data import InfiniteBatches
from ganbook.folder import (
    ImageFolderDataset,
    find_images,
    folder_batches,
    load_image_folder,
    pixel_bytes,
    read_image,
)


def test_find_images_keeps_image_files_and_labels_sub_folders(image_folder):
    root, readable = image_folder
    files = find_images(root)
    names = [p.name for p in files.paths]
    assert len(names) == readable + 1  # the corrupt .jpg has an image extension
    assert ".hidden.png" not in names and "notes.txt" not in names
    assert files.classes == ["cats", "dogs"]
    assert all(files.classes[label] == path.parent.name
               for path, label in zip(files.paths, files.labels, strict=True))


def test_missing_empty_or_file_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        find_images(tmp_path / "empty")
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        find_images(tmp_path / "a.png")


def test_files_directly_in_the_folder_are_class_dot(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert find_images(tmp_path).classes == ["."]


def test_read_image_scales_a_known_colour_and_converts_to_grey(tmp_path):
    Image.new("RGB", (60, 40), (255, 0, 51)).save(tmp_path / "c.png")
    x = read_image(tmp_path / "c.png", 16, 3)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    expected = torch.tensor([255, 0, 51]) / 127.5 - 1
    torch.testing.assert_close(x, expected[:, None, None].expand(3, 16, 16))
    grey = read_image(tmp_path / "c.png", 16, 1)  # luma: .299 * 255 + .114 * 51 = 82.1
    assert grey.shape == (1, 16, 16)
    torch.testing.assert_close(grey, torch.full((1, 16, 16), 82 / 127.5 - 1))


def test_read_image_resizes_the_short_side_and_crops_the_centre(tmp_path):
    pixels = np.zeros((20, 80, 3), dtype=np.uint8)  # 20 high, 80 wide: 16 x 64 after resizing
    pixels[:, 40:] = 255  # right half white: the centre crop (columns 24-39) is half white
    pixels[:, :10] = 255  # a white stripe at the far left, which the crop must cut off
    Image.fromarray(pixels).save(tmp_path / "halves.png")
    x = read_image(tmp_path / "halves.png", 16, 3)
    assert x.shape == (3, 16, 16)
    assert torch.all(x[:, :, :6] == -1) and torch.all(x[:, :, 10:] == 1)


def test_load_image_folder_skips_the_corrupt_file_with_one_warning(image_folder):
    root, readable = image_folder
    with pytest.warns(UserWarning, match=r"skipped 1 of \d+ image files .*corrupt\.jpg"):
        images, labels = load_image_folder(root, image_size=16, channels=3)
    assert images.shape == (readable, 3, 16, 16)
    assert images.min() >= -1 and images.max() <= 1
    assert labels.dtype == torch.int64 and set(labels.tolist()) == {0, 1}


def test_unsupported_size_channels_or_nothing_readable_are_errors(tmp_path, image_folder):
    root, _ = image_folder
    with pytest.raises(ValueError, match="image_size 20"):
        load_image_folder(root, image_size=20)
    with pytest.raises(ValueError, match="channels"):
        load_image_folder(root, channels=2)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="none of the 1 image files"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_image_folder(tmp_path / "bad")


def test_dataset_checks_headers_and_replaces_a_file_that_fails_to_decode(image_folder,
                                                                        monkeypatch):
    root, readable = image_folder
    with pytest.warns(UserWarning, match="corrupt.jpg"):
        dataset = ImageFolderDataset(root, image_size=8, channels=1)
    assert len(dataset) == readable and dataset.classes == ["cats", "dogs"]
    image, label = dataset[0]
    assert image.shape == (1, 8, 8) and label in (0, 1)

    import ganbook.folder as folder

    real_read = folder.read_image
    broken = dataset.paths[0]

    def read(path, *args):
        if path == broken:
            raise RuntimeError("damaged in the middle")
        return real_read(path, *args)

    monkeypatch.setattr(folder, "read_image", read)
    with pytest.warns(UserWarning, match="damaged in the middle"):
        replaced, _ = dataset[0]
    torch.testing.assert_close(replaced, dataset[1][0])


def test_folder_batches_keeps_small_folders_in_memory(image_folder):
    root, readable = image_folder
    with pytest.warns(UserWarning):
        batches, description = folder_batches(root, batch_size=4, image_size=16, channels=3)
    assert isinstance(batches, InfiniteBatches) and batches.num_examples == readable
    assert "in memory" in description and f"{readable:,} images" in description
    assert next(batches).shape == (4, 3, 16, 16)


def test_folder_batches_streams_above_the_memory_limit(image_folder):
    root, readable = image_folder
    limit = pixel_bytes(readable, 16, 1) - 1  # too small for them all
    with pytest.warns(UserWarning):
        loader, description = folder_batches(root, batch_size=4, image_size=16, channels=1,
                                             memory_limit=limit, num_workers=0, seed=3)
    assert isinstance(loader, DataLoader) and "streamed from disk by 0 worker" in description
    epoch = [x for x, _ in loader]
    assert len(epoch) == readable // 4 and epoch[0].shape == (4, 1, 16, 16)
    seen = torch.cat(epoch).flatten(1)
    assert len(torch.unique(seen, dim=0)) == len(seen)  # each image at most once an epoch


def test_streamed_shares_of_two_processes_do_not_overlap(image_folder):
    root, _ = image_folder
    shares = []
    for rank in (0, 1):
        with pytest.warns(UserWarning):
            loader, _ = folder_batches(root, 4, 8, 1, memory_limit=0, num_workers=0, world=2,
                                       rank=rank)
        assert loader.batch_size == 2
        shares.append(torch.cat([x for x, _ in loader]).flatten(1))
    both = torch.cat(shares)
    assert len(torch.unique(both, dim=0)) == len(both)
    with pytest.raises(ValueError, match="multiple of the 2 processes"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder_batches(root, 5, 8, 1, memory_limit=0, world=2)
