"""The VAE network on flat buffers: forward pass, loss, backward pass.

All parameters live in one flat vector ``theta`` (so the optimiser is one fused
loop) and all activations in one flat workspace; an int64 table ``layers`` says
where each dense layer finds its weights and its input/output activations:

=========  ===============================================================
column     meaning
=========  ===============================================================
N_IN       input width
N_OUT      output width
W_OFF      offset of the ``(N_IN, N_OUT)`` weights in ``theta``
B_OFF      offset of the ``N_OUT`` biases in ``theta``
ACT        activation code (:mod:`emfast.kernels.vae.nn`)
IN_SLOT    per-row offset of the input in the workspace
OUT_SLOT   per-row offset of the output in the workspace
=========  ===============================================================

A slot with per-row offset ``o`` and width ``w`` is the C-contiguous
``(n_rows, w)`` block starting at ``o * max_rows``. Layers ``0 .. n_enc - 1``
are the encoder (the last one linear, ``2 L`` outputs: ``[mu, log_var]``),
layers ``n_enc ..`` the decoder; the decoder's first input is the ``z`` slot.
The same table, applied to a gradient workspace, locates activation gradients.

``config`` (int64) holds ``[n_enc, n_latent, likelihood, sigmoid_mean,
var_offset, max_rows]``; for the Gaussian likelihood ``theta[var_offset:
var_offset + D]`` are the raw variance parameters ``s`` (``var = exp(s) +
var_floor``).
"""

import math

from emfast._numba import jit
from emfast.kernels.vae.adam import update_range
from emfast.kernels.vae.latent import fill_normal, latent_backward, latent_forward
from emfast.kernels.vae.likelihood import bernoulli_row, gaussian_row
from emfast.kernels.vae.nn import (
    activation_backward,
    column_sums,
    dense_backward,
    dense_forward,
)
from emfast.kernels.vae.sparse import sparse_forward, sparse_weight_grad

N_IN, N_OUT, W_OFF, B_OFF, ACT, IN_SLOT, OUT_SLOT = range(7)
N_ENC, N_LATENT, LIKELIHOOD, SIGMOID_MEAN, VAR_OFFSET, MAX_ROWS = range(6)
BERNOULLI = 0
GAUSSIAN = 1
LIKELIHOODS = {"bernoulli": BERNOULLI, "gaussian": GAUSSIAN}


@jit
def slot(buffer, offset_per_row, width, max_rows, n_rows):
    """The ``(n_rows, width)`` activation block of a slot (a view)."""
    start = offset_per_row * max_rows
    return buffer[start : start + n_rows * width].reshape((n_rows, width))


@jit
def layer_params(theta, layers, layer):
    """Views of a layer's ``(weights, bias)`` in a flat parameter vector."""
    n_in = layers[layer, N_IN]
    n_out = layers[layer, N_OUT]
    w0 = layers[layer, W_OFF]
    b0 = layers[layer, B_OFF]
    return theta[w0 : w0 + n_in * n_out].reshape((n_in, n_out)), theta[b0 : b0 + n_out]


@jit
def layer_input(buffer, layers, layer, max_rows, n_rows):
    return slot(buffer, layers[layer, IN_SLOT], layers[layer, N_IN], max_rows, n_rows)


@jit
def layer_output(buffer, layers, layer, max_rows, n_rows):
    return slot(buffer, layers[layer, OUT_SLOT], layers[layer, N_OUT], max_rows, n_rows)


@jit
def noise_rows(noise, n_rows, n_latent, key, first_index):
    """``(n_rows, L)`` standard normals; row ``i`` from stream index
    ``first_index + i * L_even`` (``L`` rounded up to even), so each row's noise
    depends on its index only, not on how rows are grouped into batches."""
    stride = n_latent + (n_latent & 1)
    block = noise[: n_rows * n_latent].reshape((n_rows, n_latent))
    for i in range(n_rows):
        fill_normal(block[i], key, first_index + i * stride)
    return block


@jit
def sparse_lists(sparse, max_rows, n_features):
    """``(row_ptr, col_ptr, row_index, col_index)`` views of the int64 buffer
    ``sparse`` (see :mod:`emfast.kernels.vae.sparse`)."""
    col_start = max_rows + 1
    index_start = col_start + n_features + 1
    size = max_rows * n_features
    return (
        sparse[:col_start],
        sparse[col_start:index_start],
        sparse[index_start : index_start + size],
        sparse[index_start + size : index_start + 2 * size],
    )


@jit
def encoder_forward(theta, layers, config, acts, n_rows, sparse, use_sparse):
    """Run the encoder on the rows in the first layer's input slot.

    With ``use_sparse``, the first layer reads the nonzero lists in ``sparse``
    (filled by :func:`~emfast.kernels.vae.sparse.sparse_structure`).
    """
    max_rows = config[MAX_ROWS]
    for layer in range(config[N_ENC]):
        weights, bias = layer_params(theta, layers, layer)
        inputs = layer_input(acts, layers, layer, max_rows, n_rows)
        out = layer_output(acts, layers, layer, max_rows, n_rows)
        if layer == 0 and use_sparse:
            row_ptr, _, row_index, _ = sparse_lists(sparse, max_rows, layers[0, N_IN])
            sparse_forward(
                inputs, row_ptr, row_index, weights, bias, out, layers[layer, ACT]
            )
        else:
            dense_forward(inputs, weights, bias, out, layers[layer, ACT])


@jit
def decoder_forward(theta, layers, config, acts, n_rows):
    """Run the decoder on the rows in the ``z`` slot."""
    max_rows = config[MAX_ROWS]
    for layer in range(config[N_ENC], layers.shape[0]):
        weights, bias = layer_params(theta, layers, layer)
        dense_forward(
            layer_input(acts, layers, layer, max_rows, n_rows),
            weights,
            bias,
            layer_output(acts, layers, layer, max_rows, n_rows),
            layers[layer, ACT],
        )


@jit
def gaussian_variance(theta, config, var_floor, work, n_features):
    """``(variance, log_variance, exp(s))`` of the Gaussian decoder, in ``work``."""
    var_offset = config[VAR_OFFSET]
    floor = theta.dtype.type(var_floor)
    variance = work[n_features : 2 * n_features]
    log_variance = work[2 * n_features : 3 * n_features]
    raw_exp = work[3 * n_features : 4 * n_features]
    for j in range(n_features):
        raw_exp[j] = math.exp(theta[var_offset + j])
        variance[j] = raw_exp[j] + floor
        log_variance[j] = math.log(variance[j])
    return variance, log_variance, raw_exp


@jit
def output_nll(
    theta,
    grad_theta,
    layers,
    config,
    var_floor,
    x,
    acts,
    grads_act,
    work,
    nll_rows,
    n_rows,
    grad_scale,
    with_grad,
):
    """``nll_rows[i] = -log p(x_i | z_i)``; with ``with_grad`` the gradient
    w.r.t. the decoder output (times ``grad_scale``) and, for the Gaussian, the
    variance parameters' gradient."""
    max_rows = config[MAX_ROWS]
    last = layers.shape[0] - 1
    out = layer_output(acts, layers, last, max_rows, n_rows)
    grad_out = layer_output(grads_act, layers, last, max_rows, n_rows)
    n_features = out.shape[1]
    if config[LIKELIHOOD] == BERNOULLI:
        for i in range(n_rows):
            nll_rows[i] = bernoulli_row(
                out[i], x[i], grad_out[i], grad_scale, work, with_grad
            )
    else:
        variance, log_variance, raw_exp = gaussian_variance(
            theta, config, var_floor, work, n_features
        )
        var_offset = config[VAR_OFFSET]
        grad_raw = grad_theta[var_offset : var_offset + n_features]
        if with_grad:
            grad_raw[:] = 0
        sigmoid_mean = config[SIGMOID_MEAN] != 0
        for i in range(n_rows):
            nll_rows[i] = gaussian_row(
                out[i],
                x[i],
                variance,
                log_variance,
                sigmoid_mean,
                grad_out[i],
                grad_raw,
                raw_exp,
                grad_scale,
                work,
                with_grad,
            )


@jit
def network_loss(
    theta,
    grad_theta,
    layers,
    config,
    var_floor,
    x,
    acts,
    grads_act,
    noise,
    work,
    rows64,
    n_rows,
    noise_key,
    noise_index,
    grad_scale,
    with_grad,
    sparse,
    use_sparse,
):
    """Forward pass of ``x`` (already in the input slot) to per-row losses.

    ``rows64[:n_rows]`` gets ``-log p(x | z)`` and ``rows64[max_rows:
    max_rows + n_rows]`` the KL terms. Row ``i`` draws its noise from index
    ``noise_index + i * L_even`` of stream ``noise_key`` (:func:`noise_rows`).
    Returns the noise block used.
    """
    eps = noise_rows(noise, n_rows, config[N_LATENT], noise_key, noise_index)
    network_loss_at(
        theta,
        grad_theta,
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
        grad_scale,
        with_grad,
        sparse,
        use_sparse,
    )
    return eps


@jit
def network_loss_at(
    theta,
    grad_theta,
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
    grad_scale,
    with_grad,
    sparse,
    use_sparse,
):
    """:func:`network_loss` with the ``(n_rows, L)`` noise ``eps`` given."""
    max_rows = config[MAX_ROWS]
    n_enc = config[N_ENC]
    encoder_forward(theta, layers, config, acts, n_rows, sparse, use_sparse)
    latent_forward(
        layer_output(acts, layers, n_enc - 1, max_rows, n_rows),
        eps,
        layer_input(acts, layers, n_enc, max_rows, n_rows),
        rows64[max_rows : max_rows + n_rows],
    )
    decoder_forward(theta, layers, config, acts, n_rows)
    output_nll(
        theta,
        grad_theta,
        layers,
        config,
        var_floor,
        x,
        acts,
        grads_act,
        work,
        rows64,
        n_rows,
        grad_scale,
        with_grad,
    )


@jit
def network_backward(
    theta,
    grad_theta,
    layers,
    config,
    acts,
    grads_act,
    eps,
    n_rows,
    kl_scale,
    sparse,
    use_sparse,
    optimizer,
    hyper,
    step,
    state1,
    state2,
):
    """Parameter gradients from the output gradient in ``grads_act``.

    With an ``optimizer`` other than ``NO_UPDATE``, each layer's parameters
    (and the Gaussian variances) take their optimiser step (number ``step``)
    as soon as their gradient is complete: the layer below needs only this
    layer's *old* weights for its input gradient, which is computed first, and
    weights and gradient are still in cache.
    """
    max_rows = config[MAX_ROWS]
    n_enc = config[N_ENC]
    n_layers = layers.shape[0]
    if config[LIKELIHOOD] == GAUSSIAN:
        var_offset = config[VAR_OFFSET]
        update_range(
            optimizer,
            hyper,
            step,
            theta,
            grad_theta,
            state1,
            state2,
            var_offset,
            var_offset + layers[n_layers - 1, N_OUT],
        )
    for layer in range(n_layers - 1, -1, -1):
        first = layers[layer, W_OFF]
        stop = layers[layer, B_OFF] + layers[layer, N_OUT]
        weights, _ = layer_params(theta, layers, layer)
        grad_weights, grad_bias = layer_params(grad_theta, layers, layer)
        inputs = layer_input(acts, layers, layer, max_rows, n_rows)
        grad_inputs = layer_input(grads_act, layers, layer, max_rows, n_rows)
        grad_pre = layer_output(grads_act, layers, layer, max_rows, n_rows)
        if layer == 0 and use_sparse:
            _, col_ptr, _, col_index = sparse_lists(sparse, max_rows, layers[0, N_IN])
            sparse_weight_grad(inputs, col_ptr, col_index, grad_pre, grad_weights)
            column_sums(grad_pre, grad_bias)
        else:
            dense_backward(
                inputs,
                weights,
                grad_pre,
                grad_weights,
                grad_bias,
                grad_inputs,
                layer > 0,
            )
        update_range(
            optimizer, hyper, step, theta, grad_theta, state1, state2, first, stop
        )
        if layer == 0:
            continue
        if layer == n_enc:
            # grad_inputs is dL/dz: through the reparameterisation, plus the KL
            latent_backward(
                layer_output(acts, layers, n_enc - 1, max_rows, n_rows),
                eps,
                grad_inputs,
                layer_output(grads_act, layers, n_enc - 1, max_rows, n_rows),
                kl_scale,
            )
        elif layer > 0:
            activation_backward(grad_inputs, inputs, layers[layer - 1, ACT])


@jit
def total_loss(rows64, max_rows, n_rows):
    """``sum_i (nll_i + kl_i)`` in float64."""
    total = 0.0
    for i in range(n_rows):
        total += rows64[i] + rows64[max_rows + i]
    return total


@jit
def gather_rows(X, order, start, n_rows, out):
    """``out[i] = X[order[start + i]]``."""
    for i in range(n_rows):
        out[i, :] = X[order[start + i]]
