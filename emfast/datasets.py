"""Small data sets for the demos and examples."""

import numpy as np

WINE_COLUMNS = ("malic_acid", "total_phenols")


def load_wine_tutorial():
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


def _read_idx(filename):
    """One gzip'd idx file (LeCun's format) as a uint8 ndarray of its shape."""
    import gzip

    with gzip.open(filename, "rb") as file:
        data = file.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{filename} is not an unsigned-byte idx file")
    n_dims = data[3]
    header_size = 4 + 4 * n_dims
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)
    )
    values = np.frombuffer(data, dtype=np.uint8, offset=header_size)
    if values.size != int(np.prod(shape)):
        raise ValueError(
            f"{filename}: header says shape {shape} but holds {values.size} values"
        )
    return values.reshape(shape)


def load_mnist(path, *, dtype=np.float32, binarize=False):
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
        If a file is not a valid idx file or images and labels disagree.
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
        arrays[key] = _read_idx(filename)
    result = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"MNIST {split} images {images.shape} and labels {labels.shape} "
                "do not match"
            )
        images = images.reshape(len(images), -1)
        if binarize:
            # intensity / 255 > 0.5  <=>  intensity > 127.5  <=>  intensity >= 128
            X = (images >= 128).astype(dtype)
        else:
            X = images.astype(dtype) / dtype.type(255)
        result += [np.ascontiguousarray(X), labels.copy()]
    return tuple(result)
