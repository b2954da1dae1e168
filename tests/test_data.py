"""Tests for ganbook.data: known centres, closed-form densities, exact pixel round trips through
tiny files in the real MNIST (IDX) and CIFAR-10 (pickle batch) formats, exact resumption.
Nothing here touches the network."""

import io
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from ganbook.data import (
    DATA_ENV,
    InfiniteBatches,
    MixtureBatches,
    MixtureOfGaussians,
    grid_mixture,
    image_shape,
    infinite_batches,
    load_images,
    num_classes,
    ring_mixture,
    to_signed_range,
    to_unit_range,
)

# ---------------------------------------------------------------- 2-D mixtures


def test_ring_has_eight_distinct_centres_on_the_unit_circle_at_multiples_of_45_degrees():
    ring = ring_mixture()
    c = ring.centers.double()
    assert ring.num_modes == 8 and ring.dim == 2 and ring.std == 0.01
    assert torch.allclose(c.norm(dim=1), torch.ones(8, dtype=torch.float64), atol=1e-6)
    steps = torch.atan2(c[:, 1], c[:, 0]) / (math.pi / 4)  # angle in units of pi/4
    assert torch.allclose(steps, steps.round(), atol=1e-6)
    assert sorted(int(k) % 8 for k in steps.round()) == list(range(8))  # all 8 distinct


def test_ring_angles_exclude_the_endpoint():
    # endpoint=True would put mode K-1 at 2*pi, on top of mode 0 (K - 1 distinct centres)
    c = ring_mixture(num_modes=3, radius=2.0).centers.double()
    expected = 2 * torch.tensor([[1.0, 0.0], [-0.5, math.sqrt(3) / 2], [-0.5, -math.sqrt(3) / 2]],
                                dtype=torch.float64)
    assert torch.allclose(c, expected, atol=1e-6)


def test_grid_has_25_centres_spaced_two_apart_in_minus_four_to_four():
    grid = grid_mixture()
    c = grid.centers
    assert grid.num_modes == 25 and grid.std == 0.05
    assert len({tuple(row.tolist()) for row in c}) == 25
    assert c.min() == -4 and c.max() == 4
    assert torch.equal(c.unique(), torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0]))
    dist = torch.cdist(c, c) + torch.eye(25) * 100  # mask each centre's distance to itself
    assert torch.allclose(dist.min(dim=1).values, torch.full((25,), 2.0))


def test_one_mode_sample_mean_and_std_match_the_parameters():
    mu, sigma, n = torch.tensor([3.0, -2.0]), 0.5, 200_000
    x = MixtureOfGaussians(mu[None], sigma).sample(n, generator=torch.Generator().manual_seed(0))
    assert x.shape == (n, 2) and x.dtype == torch.float32
    # standard errors: mean sigma/sqrt(n) = 0.0011, std sigma/sqrt(2n) = 0.0008; allow ~5 of them
    assert torch.allclose(x.mean(0), mu, atol=0.006)
    assert torch.allclose(x.std(0), torch.full((2,), sigma), atol=0.004)


@pytest.mark.parametrize("mixture", [ring_mixture(), grid_mixture()], ids=["ring", "grid"])
def test_sample_with_modes_labels_the_nearest_centre(mixture):
    # ring: neighbours 0.77 apart = 38 sigma; grid: 2 apart = 40 sigma, so no sample strays
    x, modes = mixture.sample_with_modes(5000, generator=torch.Generator().manual_seed(1))
    assert modes.dtype == torch.int64
    assert torch.equal(torch.cdist(x, mixture.centers).argmin(dim=1), modes)


def test_modes_are_drawn_with_equal_weights():
    n = 80_000
    _, modes = ring_mixture().sample_with_modes(n, generator=torch.Generator().manual_seed(2))
    counts = torch.bincount(modes, minlength=8).double()
    # each count is Binomial(n, 1/8): mean 10,000, sd sqrt(n/8 * 7/8) = 94; allow 5 sd
    assert (counts - n / 8).abs().max() < 5 * math.sqrt(n / 8 * 7 / 8)


def test_sampling_is_reproducible_with_a_seeded_generator():
    grid = grid_mixture()
    a = grid.sample(100, generator=torch.Generator().manual_seed(7))
    b = grid.sample(100, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_log_prob_of_one_gaussian_is_the_closed_form():
    mu, s = torch.tensor([0.5, -1.0], dtype=torch.float64), 0.3
    x = torch.tensor([[0.5, -1.0], [1.0, 0.0], [-2.0, 3.0]], dtype=torch.float64)
    expected = -((x - mu) ** 2).sum(1) / (2 * s**2) - math.log(2 * math.pi * s**2)
    got = MixtureOfGaussians(mu[None], s).log_prob(x)
    assert got.shape == (3,)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_mixture_log_prob_is_log_of_the_mean_component_density():
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    s = 0.7
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mu = centers.double()
    density = torch.exp(-torch.cdist(x, mu) ** 2 / (2 * s**2)) / (2 * math.pi * s**2)  # (50, 3)
    got = MixtureOfGaussians(centers, s).log_prob(x)
    assert torch.allclose(got, density.mean(1).log(), rtol=1e-10)


def test_log_prob_stays_finite_far_from_every_mode():
    # at (3, 0) the nearest ring mode (1, 0) is 2 away; every other term is e^-8786 times smaller
    x = torch.tensor([[3.0, 0.0]], dtype=torch.float64)
    expected = -4 / (2 * 0.01**2) - math.log(8) - math.log(2 * math.pi * 0.01**2)
    assert torch.allclose(ring_mixture().log_prob(x), torch.tensor([expected], dtype=x.dtype))


def test_mixture_rejects_bad_parameters():
    with pytest.raises(ValueError, match="shape"):
        MixtureOfGaussians(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="std"):
        MixtureOfGaussians(torch.zeros(3, 2), 0.0)


# ---------------------------------------------------------------- digits


def test_digits_shapes_range_and_labels():
    images, labels = load_images("digits", split="train")
    assert images.shape == (len(labels), 1, 8, 8) and images.dtype == torch.float32
    assert labels.dtype == torch.int64
    assert images.min() == -1 and images.max() == 1
    assert set(labels.tolist()) == set(range(10))
    assert image_shape("digits") == (1, 8, 8) and num_classes("digits") == 10


def test_digits_all_is_the_sklearn_data_mapped_from_0_16_to_minus1_1():
    images, labels = load_images("digits", split="all")
    d = load_digits()
    assert torch.equal(images, torch.from_numpy(d.images).float()[:, None] / 8 - 1)
    assert torch.equal(labels, torch.from_numpy(d.target).long())


def test_digits_split_is_a_fixed_disjoint_20_percent_held_out():
    train, test = load_images("digits", split="train"), load_images("digits", split="test")
    everything, all_labels = load_images("digits", split="all")
    assert len(train[0]) == 1438 and len(test[0]) == 359  # 1,797 = 1,438 + 359
    rows = [{img.numpy().tobytes() for img in split[0]} for split in (train, test)]
    assert not rows[0] & rows[1]  # the 1,797 images are distinct, so this is disjointness
    # the documented recipe: test = sorted(randperm(1797, seed 0)[:359]), train = the rest
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    test_idx, train_idx = perm[:359].sort().values, perm[359:].sort().values
    assert torch.equal(test[0], everything[test_idx]) and torch.equal(test[1], all_labels[test_idx])
    assert torch.equal(train[0], everything[train_idx])
    assert torch.equal(train[1], all_labels[train_idx])
    again = load_images("digits", split="test")
    assert torch.equal(again[0], test[0]) and torch.equal(again[1], test[1])


# ---------------------------------------------------------------- MNIST / Fashion-MNIST


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX file: magic 0x00 0x00 0x08 (unsigned byte) ndim, big-endian uint32 sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_fake_mnist(root: Path, folder: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    written = {}
    for split, prefix, n in (("train", "train", 5), ("test", "t10k", 3)):
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        pixels[0, 0, :2] = [0, 255]  # both ends of the range
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", pixels)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        written[split] = pixels, labels
    return written


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_like_round_trips_exact_pixels_and_labels(tmp_path, name, folder, split):
    pixels, labels = write_fake_mnist(tmp_path, folder)[split]
    images, got_labels = load_images(name, root=tmp_path, split=split)
    assert images.shape == (len(labels), 1, 28, 28) == (len(labels), *image_shape(name))
    assert torch.equal(images, torch.from_numpy(pixels).float()[:, None] / 127.5 - 1)
    assert images.min() == -1 and images.max() == 1
    back = (to_unit_range(images) * 255).round().to(torch.uint8)[:, 0]
    assert torch.equal(back, torch.from_numpy(pixels))
    assert got_labels.dtype == torch.int64
    assert torch.equal(got_labels, torch.from_numpy(labels).long())


def test_default_root_comes_from_the_environment(tmp_path, monkeypatch):
    written = write_fake_mnist(tmp_path, "MNIST")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    images, labels = load_images("mnist", split="all")  # train then test
    assert len(images) == 8
    assert torch.equal(labels, torch.from_numpy(np.concatenate(
        [written["train"][1], written["test"][1]])).long())


# ---------------------------------------------------------------- CIFAR-10


def write_fake_cifar(root: Path, sizes=(2, 1, 1, 1, 1), test_size=3) -> dict[str, tuple]:
    """The python archive's layout: pickled dicts with data (N, 3072) uint8 and labels."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    chw = {}
    for file, n in zip(names, [*sizes, test_size], strict=True):
        pixels = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        entry = {"batch_label": file, "data": pixels.reshape(n, 3072), "labels": labels,
                 "filenames": [f"{file}_{i}.png" for i in range(n)]}
        (folder / file).write_bytes(pickle.dumps(entry))
        chw[file] = pixels, labels
    meta = {"label_names": [str(i) for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    train = [chw[f] for f in names[:5]]
    return {"train": (np.concatenate([p for p, _ in train]), sum((y for _, y in train), [])),
            "test": chw["test_batch"]}


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_round_trips_exact_pixels_in_chw_order(tmp_path, split):
    pixels, labels = write_fake_cifar(tmp_path)[split]
    images, got_labels = load_images("cifar10", root=tmp_path, split=split)
    assert images.shape == (len(labels), 3, 32, 32)
    assert torch.equal(images, torch.from_numpy(pixels).float() / 127.5 - 1)
    assert torch.equal(got_labels, torch.tensor(labels, dtype=torch.int64))


def test_cifar10_agrees_with_torchvision_reader(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    write_fake_cifar(tmp_path)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)  # skip md5s
    reference = tv_cifar.CIFAR10(str(tmp_path), train=True)  # data (N, H, W, C) uint8
    images, labels = load_images("cifar10", root=tmp_path)
    pixels = torch.from_numpy(reference.data).permute(0, 3, 1, 2)  # to (N, C, H, W)
    assert torch.equal(images, pixels.float() / 127.5 - 1)
    assert labels.tolist() == reference.targets


def test_cifar10_download_true_fetches_the_archive_once(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    urls = []

    def fake_download(url, download_root, **kwargs):  # stands in for the network
        urls.append(url)
        write_fake_cifar(Path(download_root))

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    images, _ = load_images("cifar10", root=tmp_path, download=True, split="test")
    assert len(images) == 3 and urls == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    load_images("cifar10", root=tmp_path, download=True)
    assert len(urls) == 1  # present now: not fetched again


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_dataset_names_it_the_folder_and_download_true(tmp_path, name):
    with pytest.raises(FileNotFoundError) as info:
        load_images(name, root=tmp_path)
    message = str(info.value)
    assert repr(name) in message and str(tmp_path) in message and "download=True" in message


def test_unknown_dataset_and_bad_split_are_value_errors():
    with pytest.raises(ValueError, match="imagenet.*digits"):
        load_images("imagenet")
    with pytest.raises(ValueError, match="cifar10"):
        image_shape("imagenet")
    with pytest.raises(ValueError, match="split"):
        load_images("digits", split="validation")


def test_known_shapes_and_classes():
    assert image_shape("mnist") == image_shape("fashion-mnist") == (1, 28, 28)
    assert image_shape("cifar10") == (3, 32, 32) and num_classes("cifar10") == 10


def test_bad_batch_sizes_and_mismatched_tensors_are_value_errors():
    with pytest.raises(ValueError, match="dataset size 10"):
        InfiniteBatches(torch.zeros(10, 2), batch_size=11)
    with pytest.raises(ValueError, match="batch_size"):
        InfiniteBatches(torch.zeros(10, 2), batch_size=0)
    with pytest.raises(ValueError, match=r"first dimension.*\[10, 9\]"):
        InfiniteBatches((torch.zeros(10, 2), torch.zeros(9)), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        MixtureBatches(ring_mixture(), batch_size=0)


# ---------------------------------------------------------------- batching


def test_every_item_appears_once_per_epoch_and_epochs_reshuffle():
    batches = InfiniteBatches(torch.arange(12), batch_size=4, seed=0)
    epochs = [torch.cat([next(batches) for _ in range(3)]) for _ in range(2)]
    for order in epochs:
        assert torch.equal(order.sort().values, torch.arange(12))
    assert not torch.equal(epochs[0], epochs[1])
    assert batches.epoch == 1 and batches.batches_per_epoch == 3


def test_drop_last_controls_the_short_final_batch():
    kept = InfiniteBatches(torch.arange(10), batch_size=4, drop_last=False)
    sizes = [len(next(kept)) for _ in range(4)]
    assert sizes == [4, 4, 2, 4] and kept.batches_per_epoch == 3
    dropped = InfiniteBatches(torch.arange(10), batch_size=4)
    first = [next(dropped) for _ in range(2)]
    assert len(torch.cat(first).unique()) == 8 and dropped.batches_per_epoch == 2
    assert len(next(dropped)) == 4 and dropped.epoch == 1


def test_pairs_stay_aligned():
    y = torch.arange(50)
    x = torch.stack([y * 10.0, -y.double()], dim=1)
    batches = infinite_batches((x, y), 7, seed=5)
    for _ in range(20):  # crosses two epochs
        xb, yb = next(batches)
        assert torch.equal(xb[:, 0], yb * 10.0) and torch.equal(xb[:, 1], -yb.double())


DEVICES = ["cpu", "meta"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_batches_are_on_the_device(device):
    batches = infinite_batches((torch.zeros(20, 3), torch.arange(20)), 8, device=device)
    assert all(t.device.type == device for t in batches.tensors)  # moved once, up front
    for _ in range(5):
        xb, yb = next(batches)
        assert xb.device.type == device and yb.device.type == device and xb.shape == (8, 3)
    x = next(MixtureBatches(ring_mixture(), 16, device=device))
    assert x.device.type == device and x.shape == (16, 2)


def test_same_seed_same_batches_other_seed_other_batches():
    def take(seed):
        batches = InfiniteBatches(torch.arange(30), batch_size=6, seed=seed)
        return torch.cat([next(batches) for _ in range(12)])

    assert torch.equal(take(3), take(3)) and not torch.equal(take(3), take(4))


@pytest.mark.parametrize("steps_before", [0, 2, 3, 7])  # 3 batches an epoch: 3 is a boundary
def test_restored_iterator_yields_exactly_the_next_batches(steps_before):
    x, y = torch.randn(10, 2), torch.arange(10)
    original = InfiniteBatches((x, y), batch_size=3, seed=11)
    for _ in range(steps_before):
        next(original)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)  # as a checkpoint would hold it
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    expected = [next(original) for _ in range(10)]
    restored = InfiniteBatches((x, y), batch_size=3, seed=999)  # the state overrides the seed
    restored.load_state_dict(state)
    for (xa, ya), (xb, yb) in zip(expected, (next(restored) for _ in range(10)), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_state_from_another_batch_size_is_refused():
    state = InfiniteBatches(torch.arange(10), batch_size=3).state_dict()
    with pytest.raises(ValueError, match="batch_size"):
        InfiniteBatches(torch.arange(10), batch_size=2).load_state_dict(state)


def test_mixture_batches_are_fresh_deterministic_and_resume_exactly():
    a, b = MixtureBatches(grid_mixture(), 64, seed=2), MixtureBatches(grid_mixture(), 64, seed=2)
    first, second = next(a), next(a)
    assert first.shape == (64, 2) and not torch.equal(first, second)
    assert torch.equal(next(b), first)
    state = a.state_dict()
    expected = [next(a) for _ in range(5)]
    restored = MixtureBatches(grid_mixture(), 64, seed=0)
    restored.load_state_dict(state)
    assert all(torch.equal(e, next(restored)) for e in expected)


# ---------------------------------------------------------------- range helpers


def test_range_helpers_are_exact_inverses():
    signed = torch.arange(-128, 129) / 128  # dyadic values: every step is exact in float32
    unit = torch.arange(0, 257) / 256
    assert torch.equal(to_signed_range(to_unit_range(signed)), signed)
    assert torch.equal(to_unit_range(to_signed_range(unit)), unit)
    assert to_unit_range(torch.tensor(-1.0)) == 0 and to_unit_range(torch.tensor(1.0)) == 1
    assert to_signed_range(torch.tensor(0.5)) == 0


# ---------------------------------------------------------------- damaged and hostile files


def test_cifar_batch_with_the_wrong_contents_is_a_clear_error(tmp_path):
    write_fake_cifar(tmp_path)
    test_batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    good = test_batch.read_bytes()
    for payload, why in [
        (good[: len(good) // 2], "unpickling failed"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}), "uint8"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}), "0..9"),
        (pickle.dumps([1, 2, 3]), "expected a dict"),
    ]:
        test_batch.write_bytes(payload)
        with pytest.raises(ValueError, match=f"is not a CIFAR-10 batch file.*{why}"):
            load_images("cifar10", root=tmp_path, split="test")


def test_cifar_unpickler_refuses_globals_outside_the_batch_format(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "created"
    (folder / "test_batch").write_bytes(pickle.dumps(
        {"data": _PathTouch(marker), "labels": []}))
    with pytest.raises(ValueError, match=r"refused pathlib.*touch|refused pathlib\.Path"):
        load_images("cifar10", root=tmp_path, split="test")
    assert not marker.exists()


class _PathTouch:  # pickles as a call of Path(marker).touch
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("damage", ["truncate", "empty", "bad_header"])
def test_damaged_mnist_files_are_a_clear_error(tmp_path, damage):
    write_fake_mnist(tmp_path, "MNIST")
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    data = images.read_bytes()
    images.write_bytes({"truncate": data[: len(data) // 2], "empty": b"",
                        "bad_header": b"\x00\x00\x08\x03" + b"\xff" * 12 + data[16:]}[damage])
    with pytest.raises(ValueError, match="mnist files in .*raw are damaged.*download the dataset"):
        load_images("mnist", root=tmp_path, split="train")
