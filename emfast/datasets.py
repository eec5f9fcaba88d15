"""Small data sets for the demos and examples."""

import os

import numpy as np
from numpy.typing import DTypeLike

WINE_COLUMNS = ("malic_acid", "total_phenols")


def load_wine_tutorial() -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """The two wine measurements of the EM tutorial: malic acid and total phenols.

    178 Italian wines from three cultivars (scikit-learn's ``load_wine``), kept
    to two columns so that the mixture can be drawn in the plane.

    Returns
    -------
    X : ndarray of shape (178, 2)
        Malic acid (g/l) and total phenols, one row per wine.
    cultivar : ndarray of shape (178,)
        The true cultivar (0, 1, 2), for comparison only.
    feature_names : tuple of str

    Examples
    --------
    >>> from emfast.datasets import load_wine_tutorial
    >>> X, cultivar, names = load_wine_tutorial()
    >>> X.shape, names
    ((178, 2), ('malic_acid', 'total_phenols'))
    """
    from sklearn.datasets import load_wine

    wine = load_wine()
    columns = [wine.feature_names.index(name) for name in WINE_COLUMNS]
    return np.ascontiguousarray(wine.data[:, columns]), wine.target, WINE_COLUMNS


MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


MNIST_IMAGE_SHAPE = (28, 28)
_IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}  # ubyte, 3-D / 1-D


def _read_idx(filename, kind):
    """One gzip'd idx file (LeCun's format) of MNIST ``kind`` as a uint8 ndarray.

    The header is read and checked first (magic number, and for images the
    28 x 28 size), then exactly the values it announces: a file whose header
    claims more data than it holds, or holds more than it claims, is refused
    without being decompressed further.
    """
    import gzip
    import zlib

    try:
        with gzip.open(filename, "rb") as file:
            magic = file.read(4)
            if len(magic) < 4 or magic[:3] != b"\x00\x00\x08":
                raise ValueError(f"{filename} is not an unsigned-byte idx file")
            if int.from_bytes(magic, "big") != _IDX_MAGIC[kind]:
                raise ValueError(
                    f"{filename} is an idx file of {magic[3]} dimension(s), not "
                    f"MNIST {kind} (magic {_IDX_MAGIC[kind]:#010x})"
                )
            n_dims = magic[3]
            header = file.read(4 * n_dims)
            if len(header) < 4 * n_dims:
                raise ValueError(f"{filename} is truncated (incomplete header)")
            shape = tuple(
                int.from_bytes(header[4 * i : 4 * i + 4], "big") for i in range(n_dims)
            )
            _check_idx_shape(filename, kind, shape)
            n_values = int(np.prod(shape))
            data = _read_at_most(file, n_values)
            if len(data) < n_values:
                raise ValueError(
                    f"{filename} is truncated: its header says shape {shape} "
                    f"({n_values} values) but it holds {len(data)}"
                )
            if file.read(1):
                raise ValueError(
                    f"{filename}: its header says shape {shape} but it holds more "
                    "values"
                )
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(
            f"{filename} is not a valid gzip file (corrupt or truncated: {err})"
        ) from None
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _read_at_most(file, n_bytes, piece=1 << 24):
    """Up to ``n_bytes``, in pieces: a header claiming terabytes allocates nothing."""
    pieces, received = [], 0
    while received < n_bytes:
        data = file.read(min(piece, n_bytes - received))
        if not data:
            break
        pieces.append(data)
        received += len(data)
    return b"".join(pieces)


def _check_idx_shape(filename, kind, shape):
    if shape[0] == 0:
        raise ValueError(f"{filename} holds no {kind}")
    if kind == "images" and shape[1:] != MNIST_IMAGE_SHAPE:
        raise ValueError(
            f"{filename} holds images of {shape[1]} x {shape[2]} pixels; MNIST "
            f"images are {MNIST_IMAGE_SHAPE[0]} x {MNIST_IMAGE_SHAPE[1]}"
        )


def load_mnist(
    path: str | os.PathLike[str],
    *,
    dtype: DTypeLike = np.float32,
    binarize: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The MNIST digits from the four standard gzip'd idx files in ``path``.

    Reads ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (the names
    of LeCun's distribution) from a local directory; nothing is downloaded.

    Parameters
    ----------
    path : str or path-like
        Directory holding the four files.
    dtype : {np.float32, np.float64}, default=np.float32
        Floating type of the images.
    binarize : bool, default=False
        If True, threshold the intensities at 0.5 (binarised MNIST, values 0
        and 1) instead of returning grey levels.

    Returns
    -------
    X_train : ndarray of shape (60000, 784)
        Training images, one flattened 28 x 28 image per row, in [0, 1]
        (intensity / 255).
    y_train : ndarray of shape (60000,)
        Training labels 0-9 (uint8).
    X_test : ndarray of shape (10000, 784)
        Test images, as ``X_train``.
    y_test : ndarray of shape (10000,)
        Test labels.

    Raises
    ------
    FileNotFoundError
        If a file is missing from ``path``.
    ValueError
        If a file is not a valid gzip file (corrupt or truncated), not an
        unsigned-byte idx file of MNIST images (28 x 28) or labels (0-9), holds
        no images, holds more or fewer values than its header says, or if
        images and labels differ in number.
    """
    from pathlib import Path

    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    directory = Path(path)
    arrays = {}
    for key, name in MNIST_FILES.items():
        filename = directory / name
        if not filename.is_file():
            raise FileNotFoundError(
                f"MNIST file {name!r} not found in {str(directory)!r}; the directory "
                f"must hold {', '.join(MNIST_FILES.values())}"
            )
        arrays[key] = _read_idx(filename, key.split("_")[1])
    result = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise ValueError(
                f"MNIST {split} images {images.shape} and labels {labels.shape} "
                "do not match (different counts)"
            )
        if labels.max() > 9:
            raise ValueError(
                f"MNIST {split} labels must be digits 0-9, found {labels.max()}"
            )
        images = images.reshape(len(images), -1)
        if binarize:
            # intensity / 255 > 0.5  <=>  intensity > 127.5  <=>  intensity >= 128
            X = (images >= 128).astype(dtype)
        else:
            X = images.astype(dtype) / dtype.type(255)
        result += [np.ascontiguousarray(X), labels.copy()]
    return tuple(result)
