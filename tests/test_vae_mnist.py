"""load_mnist on small idx files written here (CI never needs the real MNIST)."""

import gzip

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from emfast.datasets import MNIST_FILES, load_mnist


def write_idx(filename, array):
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(filename, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_dir(tmp_path, rng):
    arrays = {
        "train_images": rng.integers(0, 256, size=(7, 28, 28)),
        "train_labels": rng.integers(0, 10, size=7),
        "test_images": rng.integers(0, 256, size=(3, 28, 28)),
        "test_labels": rng.integers(0, 10, size=3),
    }
    for key, name in MNIST_FILES.items():
        write_idx(tmp_path / name, arrays[key])
    return tmp_path, arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32"])
def test_load_mnist_scales_to_unit_interval(mnist_dir, dtype):
    path, arrays = mnist_dir
    X_train, y_train, X_test, y_test = load_mnist(path, dtype=dtype)
    assert X_train.shape == (7, 784) and X_test.shape == (3, 784)
    assert X_train.dtype == np.dtype(dtype) and X_train.flags.c_contiguous
    assert_allclose(X_train, arrays["train_images"].reshape(7, 784) / 255.0, rtol=1e-6)
    assert_array_equal(y_train, arrays["train_labels"])
    assert_array_equal(y_test, arrays["test_labels"])


def test_load_mnist_binarize_thresholds_at_half(mnist_dir):
    path, arrays = mnist_dir
    X_train, _, X_test, _ = load_mnist(path, binarize=True)
    grey = load_mnist(path)[0]
    assert_array_equal(X_train, (grey > 0.5).astype(np.float32))
    assert set(np.unique(X_test)) <= {0.0, 1.0}


def test_load_mnist_errors(mnist_dir):
    path, _ = mnist_dir
    (path / MNIST_FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist(path)
    write_idx(path / MNIST_FILES["test_labels"], np.zeros(4))  # 4 labels, 3 images
    with pytest.raises(ValueError, match="do not match"):
        load_mnist(path)
    with gzip.open(path / MNIST_FILES["train_images"], "wb") as file:
        file.write(b"\x00\x00\x0d\x03")  # float idx, not unsigned bytes
    with pytest.raises(ValueError, match="not an unsigned-byte idx file"):
        load_mnist(path)
    with pytest.raises(ValueError, match="dtype"):
        load_mnist(path, dtype=np.int32)


def test_real_mnist_if_present():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    if not (path / MNIST_FILES["train_images"]).is_file():
        pytest.skip("no MNIST copy beside the checkout")
    X_train, y_train, X_test, y_test = load_mnist(path, binarize=True)
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert 0.12 < X_train.mean() < 0.14  # binarised MNIST: ~13 % of pixels on
    assert np.bincount(y_test).tolist()[:2] == [980, 1135]
