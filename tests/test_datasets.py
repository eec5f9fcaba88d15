"""load_mnist on damaged idx files: every defect gives a clear ValueError."""

import gzip

import pytest

from emfast.datasets import MNIST_FILES, load_mnist
from tests.test_vae_mnist import write_idx


@pytest.fixture
def mnist_dir(tmp_path, rng):
    arrays = {
        "train_images": rng.integers(0, 256, size=(5, 28, 28)),
        "train_labels": rng.integers(0, 10, size=5),
        "test_images": rng.integers(0, 256, size=(2, 28, 28)),
        "test_labels": rng.integers(0, 10, size=2),
    }
    for key, name in MNIST_FILES.items():
        write_idx(tmp_path / name, arrays[key])
    return tmp_path


def _gzip(path, content):
    with gzip.open(path, "wb") as file:
        file.write(content)


def _idx_header(type_code, shape):
    header = bytes([0, 0, type_code, len(shape)])
    return header + b"".join(int(n).to_bytes(4, "big") for n in shape)


def test_valid_files_load(mnist_dir):
    X_train, y_train, X_test, y_test = load_mnist(mnist_dir)
    assert X_train.shape == (5, 784) and X_test.shape == (2, 784)
    assert y_train.shape == (5,) and y_test.shape == (2,)


def test_corrupt_gzip(mnist_dir):
    path = mnist_dir / MNIST_FILES["train_images"]
    content = path.read_bytes()
    damaged = bytearray(content)
    damaged[len(damaged) // 2] ^= 0xFF  # a flipped byte in the deflate stream
    for name, bytes_ in [
        ("truncated", content[: len(content) // 2]),
        ("not gzip", b"this is not gzip data at all"),
        ("flipped", bytes(damaged)),
    ]:
        path.write_bytes(bytes_)
        with pytest.raises(
            ValueError, match="corrupt or truncated|is truncated|holds more"
        ) as info:
            load_mnist(mnist_dir)
        assert MNIST_FILES["train_images"] in str(info.value), name


@pytest.mark.parametrize(
    "key, content, match",
    [
        # images of 7 x 4 pixels used to load as 28-value rows
        ("train_images", _idx_header(8, (3, 7, 4)) + bytes(84), "7 x 4 pixels"),
        # zero images used to give a numpy reshape error
        ("train_images", _idx_header(8, (0, 28, 28)), "holds no images"),
        ("train_labels", _idx_header(8, (0,)), "holds no labels"),
        # a label file where images belong: wrong magic number
        ("train_images", _idx_header(8, (5,)) + bytes(5), "not MNIST images"),
        ("test_labels", _idx_header(8, (2, 28, 28)) + bytes(1568), "not MNIST labels"),
        ("test_labels", _idx_header(0x0D, (2,)) + bytes(8), "not an unsigned-byte"),
        ("test_labels", b"\x00\x00", "not an unsigned-byte idx file"),
        ("test_labels", _idx_header(8, (2,))[:6], "incomplete header"),
        # more or fewer values than the header says
        ("train_labels", _idx_header(8, (5,)) + bytes(3), "holds 3"),
        ("train_labels", _idx_header(8, (5,)) + bytes(6), "holds more values"),
        # a header claiming 4 billion images is refused when the data run out
        (
            "train_images",
            _idx_header(8, (2**32 - 1, 28, 28)) + bytes(784),
            "but it holds 784",
        ),
        ("train_labels", _idx_header(8, (5,)) + bytes([1, 2, 3, 4, 10]), "0-9"),
        ("test_labels", _idx_header(8, (3,)) + bytes(3), "different counts"),
    ],
)
def test_damaged_idx_files(mnist_dir, key, content, match):
    _gzip(mnist_dir / MNIST_FILES[key], content)
    with pytest.raises(ValueError, match=match):
        load_mnist(mnist_dir)
