"""Inference passes of a fitted VAE: ELBO per row, encoding, decoding, IWAE.

Rows are processed in chunks of ``max_rows``; chunks are dealt round-robin to
``n_workers`` parallel tasks, each with its own workspace (row ``w`` of the
``(n_workers, size)`` workspace arrays). Every row's result depends only on
the row itself (its noise stream is keyed by its values,
:func:`~emfast.kernels.vae.latent.row_key`), so results do not depend on the
number of workers, on the row's position or on the other rows passed along.

Each ``prange`` body is a single call of a serial chunk function. Writing
into workspace views inside the parallel body itself is unsafe: numba's parfor
pass removed a copy into a view (``x[:, :] = X[...]``) whose only later reader
was another view of the same buffer, as dead code.
"""

import math

from emfast._numba import jit, prange
from emfast.kernels.vae.latent import fill_normal, keyed_noise, row_key
from emfast.kernels.vae.network import (
    IN_SLOT,
    MAX_ROWS,
    N_ENC,
    N_IN,
    N_LATENT,
    decoder_forward,
    encoder_forward,
    layer_input,
    layer_output,
    network_loss_at,
    output_nll,
    slot,
)


@jit
def _elbo_chunk(
    X,
    start,
    n_rows,
    theta,
    layers,
    config,
    var_floor,
    acts,
    grads_act,
    noise,
    work,
    rows64,
    noise_key,
    out,
):
    max_rows = config[MAX_ROWS]
    rows = X[start : start + n_rows]
    x = slot(acts, layers[0, IN_SLOT], layers[0, N_IN], max_rows, n_rows)
    x[:, :] = rows
    eps = keyed_noise(noise, rows, config[N_LATENT], noise_key)
    # no gradient (theta stands in for its buffer) and dense first layer
    # (config stands in for the unused int64 nonzero lists)
    network_loss_at(
        theta,
        theta,
        layers,
        config,
        var_floor,
        x,
        acts,
        grads_act,
        eps,
        work,
        rows64,
        n_rows,
        1.0,
        False,
        config,
        False,
    )
    for i in range(n_rows):
        out[start + i] = rows64[i] + rows64[max_rows + i]


@jit(parallel=True)
def negative_elbo_rows(
    X,
    theta,
    layers,
    config,
    var_floor,
    acts,
    grads_act,
    noise,
    work,
    rows64,
    noise_key,
    out,
):
    """``out[i] = -ELBO(x_i)`` with one reparameterised sample per row (float64).

    Row ``i``'s noise is the start of the stream keyed by ``row_key(X[i],
    noise_key)``: a pure function of the row.
    """
    max_rows = config[MAX_ROWS]
    n_samples = X.shape[0]
    n_chunks = (n_samples + max_rows - 1) // max_rows
    n_workers = acts.shape[0]
    for w in prange(n_workers):
        for c in range(w, n_chunks, n_workers):
            _elbo_chunk(
                X,
                c * max_rows,
                min(max_rows, n_samples - c * max_rows),
                theta,
                layers,
                config,
                var_floor,
                acts[w],
                grads_act[w],
                noise[w],
                work[w],
                rows64[w],
                noise_key,
                out,
            )


@jit
def _encode_chunk(X, start, n_rows, theta, layers, config, acts, encoded):
    max_rows = config[MAX_ROWS]
    x = slot(acts, layers[0, IN_SLOT], layers[0, N_IN], max_rows, n_rows)
    x[:, :] = X[start : start + n_rows]
    encoder_forward(theta, layers, config, acts, n_rows, config, False)  # dense
    encoded[start : start + n_rows] = layer_output(
        acts, layers, config[N_ENC] - 1, max_rows, n_rows
    )


@jit(parallel=True)
def encode_rows(X, theta, layers, config, acts, encoded):
    """``encoded[i] = [mu_i, log_var_i]`` of ``q(z | x_i)``."""
    max_rows = config[MAX_ROWS]
    n_samples = X.shape[0]
    n_chunks = (n_samples + max_rows - 1) // max_rows
    n_workers = acts.shape[0]
    for w in prange(n_workers):
        for c in range(w, n_chunks, n_workers):
            _encode_chunk(
                X,
                c * max_rows,
                min(max_rows, n_samples - c * max_rows),
                theta,
                layers,
                config,
                acts[w],
                encoded,
            )


@jit
def _decode_chunk(Z, start, n_rows, theta, layers, config, acts, decoded):
    max_rows = config[MAX_ROWS]
    z = layer_input(acts, layers, config[N_ENC], max_rows, n_rows)
    z[:, :] = Z[start : start + n_rows]
    decoder_forward(theta, layers, config, acts, n_rows)
    decoded[start : start + n_rows] = layer_output(
        acts, layers, layers.shape[0] - 1, max_rows, n_rows
    )


@jit(parallel=True)
def decode_rows(Z, theta, layers, config, acts, decoded):
    """``decoded[i]`` = the decoder output (logits or pre-means) at ``Z[i]``."""
    max_rows = config[MAX_ROWS]
    n_samples = Z.shape[0]
    n_chunks = (n_samples + max_rows - 1) // max_rows
    n_workers = acts.shape[0]
    for w in prange(n_workers):
        for c in range(w, n_chunks, n_workers):
            _decode_chunk(
                Z,
                c * max_rows,
                min(max_rows, n_samples - c * max_rows),
                theta,
                layers,
                config,
                acts[w],
                decoded,
            )


@jit
def _importance_row(
    X,
    i,
    encoded,
    n_importance,
    theta,
    layers,
    config,
    var_floor,
    acts,
    grads_act,
    noise,
    work,
    rows64,
    x,
    noise_key,
):
    """IWAE estimate for row ``i`` (see :func:`importance_log_likelihood`)."""
    max_rows = config[MAX_ROWS]
    n_enc = config[N_ENC]
    n_latent = config[N_LATENT]
    stride = n_latent + (n_latent & 1)
    key = row_key(X[i], noise_key)
    for r in range(max_rows):
        x[r, :] = X[i]
    top = -math.inf
    total = 0.0
    for k0 in range(0, n_importance, max_rows):
        n_rows = min(max_rows, n_importance - k0)
        z = layer_input(acts, layers, n_enc, max_rows, n_rows)
        eps = noise[: n_rows * n_latent].reshape((n_rows, n_latent))
        log_ratio = rows64[max_rows : max_rows + n_rows]
        for r in range(n_rows):
            fill_normal(eps[r], key, (k0 + r) * stride)
            # log p(z) - log q(z | x); the log(2 pi) terms cancel
            value = 0.0
            for j in range(n_latent):
                log_var = encoded[i, n_latent + j]
                z[r, j] = encoded[i, j] + math.exp(0.5 * log_var) * eps[r, j]
                value += eps[r, j] * eps[r, j] + log_var - z[r, j] * z[r, j]
            log_ratio[r] = 0.5 * value
        decoder_forward(theta, layers, config, acts, n_rows)
        output_nll(
            theta,
            theta,
            layers,
            config,
            var_floor,
            x,
            acts,
            grads_act,
            work,
            rows64,
            n_rows,
            1.0,
            False,
        )
        for r in range(n_rows):
            log_weight = log_ratio[r] - rows64[r]
            if log_weight > top:
                total = total * math.exp(top - log_weight) + 1.0
                top = log_weight
            else:
                total += math.exp(log_weight - top)
    return top + math.log(total) - math.log(n_importance)


@jit(parallel=True)
def importance_log_likelihood(
    X,
    encoded,
    n_importance,
    theta,
    layers,
    config,
    var_floor,
    acts,
    grads_act,
    noise,
    work,
    rows64,
    x_rows,
    noise_key,
    out,
):
    """``out[i]`` = IWAE estimate ``log mean_k p(x_i, z_k) / q(z_k | x_i)``.

    ``z_k ~ q(z | x_i)`` (from ``encoded``), ``n_importance`` samples in chunks
    of ``max_rows``; the log-mean-exp is streamed in float64. Sample ``k`` of row
    ``i`` uses noise index ``k * L_even`` of the stream keyed by
    ``row_key(X[i], noise_key)``.
    """
    n_samples = X.shape[0]
    n_workers = acts.shape[0]
    for w in prange(n_workers):
        for i in range(w, n_samples, n_workers):
            out[i] = _importance_row(
                X,
                i,
                encoded,
                n_importance,
                theta,
                layers,
                config,
                var_floor,
                acts[w],
                grads_act[w],
                noise[w],
                work[w],
                rows64[w],
                x_rows[w],
                noise_key,
            )
