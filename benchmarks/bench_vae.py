"""asv benchmarks of emfast's VAE (784-400-20, ReLU, Bernoulli, Adam, batch 100).

``time_epoch`` is one training epoch (``partial_fit``) on a 5000-row slice of
binarised MNIST, or of generated binary data with MNIST's density of ones
(13 %) when the MNIST files are absent; the MNIST case is skipped then (set
``EMFAST_MNIST`` to a directory holding the four idx files to enable it). A
warm-up call in ``setup`` compiles (or loads) the kernels first. The
side-by-side ratio against PyTorch lives in benchmarks/vae_compare.py.
"""

import os
from pathlib import Path

import numpy as np

N_ROWS = 5000
RECIPE = dict(
    n_latent=20,
    hidden_layer_sizes=(400,),
    batch_size=100,
    learning_rate=1e-3,
    random_state=0,
    verbose=False,
)


def _mnist_dir():
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    return Path(os.environ.get("EMFAST_MNIST", default))


def _data(source, dtype):
    if source == "mnist":
        from emfast.datasets import load_mnist

        try:
            X = load_mnist(_mnist_dir(), dtype=dtype, binarize=True)[0]
        except FileNotFoundError:
            raise NotImplementedError("MNIST files not found") from None
        return np.ascontiguousarray(X[:N_ROWS])
    rng = np.random.default_rng(0)
    return (rng.random((N_ROWS, 784)) < 0.13).astype(dtype)


class TrainEpoch:
    """One epoch of minibatch training, and the inference passes after it."""

    params = (["mnist", "generated"], ["float32", "float64"])
    param_names = ["data", "dtype"]
    timeout = 300

    def setup(self, source, dtype):
        from emfast.vae import VAE

        self.X = _data(source, dtype)
        # compile (or load from numba's cache) before anything is timed
        VAE(**RECIPE, dtype=dtype).partial_fit(self.X[:300]).score(self.X[:10])
        self.model = VAE(**RECIPE, dtype=dtype).partial_fit(self.X)

    def time_epoch(self, source, dtype):
        self.model.partial_fit(self.X)

    def time_score_samples(self, source, dtype):
        self.model.score_samples(self.X)

    def time_transform(self, source, dtype):
        self.model.transform(self.X)


class ImportanceSampling:
    """``log_likelihood`` of 20 rows with 500 importance samples each."""

    timeout = 300

    def setup(self):
        from emfast.vae import VAE

        self.X = _data("generated", "float32")
        self.model = VAE(**RECIPE, max_epochs=1).fit(self.X[:1000])
        self.model.log_likelihood(self.X[:2], n_importance=10)

    def time_log_likelihood(self):
        self.model.log_likelihood(self.X[:20], n_importance=500)
