"""Inference drivers of a fitted VAE: allocate per-worker buffers, call the kernels.

Rows go through the network in chunks of ``EVAL_ROWS``; each parallel worker has
its own workspace. Decoder outputs are turned into means here (sigmoid of the
logits, or of the Gaussian pre-means when ``sigmoid_mean_``).
"""

import numpy as np
from scipy.special import expit

from emfast._numba import get_num_threads, num_threads, serial_blas
from emfast.kernels.vae import evaluate
from emfast.vae._layout import workspace

# rows per chunk: large enough for efficient matrix products
EVAL_ROWS = 250


def _setup(model, n_rows):
    max_rows = max(1, min(EVAL_ROWS, n_rows))
    n_workers = max(1, min(get_num_threads(), -(-n_rows // max_rows)))
    buffers = workspace(model.layout_, max_rows, model._fitted_dtype(), n_workers)
    config = model.layout_.config(max_rows, model.sigmoid_mean_)
    return buffers, config, model.layout_.layers()


def encode(model, X):
    """``[mu, log_var]`` of ``q(z | x)`` for every row, shape ``(n, 2 L)``."""
    encoded = np.empty((X.shape[0], 2 * model.layout_.n_latent), dtype=X.dtype)
    if X.shape[0] == 0:
        return encoded
    with num_threads(model.n_jobs), serial_blas():
        buffers, config, layers = _setup(model, X.shape[0])
        evaluate.encode_rows(
            X, model._state.theta, layers, config, buffers["acts"], encoded
        )
    return encoded


def decode(model, Z):
    """Decoder means at the rows of ``Z``."""
    n_rows = Z.shape[0]
    decoded = np.empty((n_rows, model.layout_.n_features), dtype=Z.dtype)
    if n_rows == 0:
        return decoded
    with num_threads(model.n_jobs), serial_blas():
        buffers, config, layers = _setup(model, n_rows)
        evaluate.decode_rows(
            Z, model._state.theta, layers, config, buffers["acts"], decoded
        )
    if model.layout_.likelihood == "bernoulli" or model.sigmoid_mean_:
        decoded = expit(decoded)
    return decoded


def negative_elbo(model, X):
    """Per-row ``-ELBO`` (float64), one sample per row from the evaluation stream."""
    out = np.empty(X.shape[0], dtype=np.float64)
    if X.shape[0] == 0:
        return out
    with num_threads(model.n_jobs), serial_blas():
        buffers, config, layers = _setup(model, X.shape[0])
        evaluate.negative_elbo_rows(
            X,
            model._state.theta,
            layers,
            config,
            model.var_floor_,
            buffers["acts"],
            buffers["grads_act"],
            buffers["noise"],
            buffers["work"],
            buffers["rows64"],
            model._eval_key,
            out,
        )
    return out


def importance_log_likelihood(model, X, n_importance):
    """Per-row IWAE estimates of ``log p(x)`` with ``n_importance`` samples."""
    out = np.empty(X.shape[0], dtype=np.float64)
    if X.shape[0] == 0:
        return out
    encoded = encode(model, X)
    with num_threads(model.n_jobs), serial_blas():
        max_rows = max(1, min(EVAL_ROWS, n_importance))
        n_workers = max(1, min(get_num_threads(), X.shape[0]))
        buffers = workspace(model.layout_, max_rows, model._fitted_dtype(), n_workers)
        config = model.layout_.config(max_rows, model.sigmoid_mean_)
        x_rows = np.empty((n_workers, max_rows, X.shape[1]), dtype=X.dtype)
        evaluate.importance_log_likelihood(
            X,
            encoded,
            n_importance,
            model._state.theta,
            model.layout_.layers(),
            config,
            model.var_floor_,
            buffers["acts"],
            buffers["grads_act"],
            buffers["noise"],
            buffers["work"],
            buffers["rows64"],
            x_rows,
            model._eval_key + 1,
            out,
        )
    return out
