"""Minibatch training steps of the VAE: gather, forward, loss, backward, update.

:func:`train_steps` runs several consecutive steps in one call so that Python
is entered once per progress-bar update, not once per minibatch. The numba code
runs on the calling thread (no parallel region; see
:func:`emfast.kernels.vae.adam.adam_serial` for the measurement behind that); the
matrix products use as many BLAS threads as the caller allows.
"""

import math

from emfast._numba import jit
from emfast.kernels.vae.network import (
    IN_SLOT,
    MAX_ROWS,
    N_IN,
    N_LATENT,
    gather_rows,
    network_backward,
    network_loss,
    slot,
    sparse_lists,
    total_loss,
)
from emfast.kernels.vae.sparse import MAX_DENSITY, sparse_structure

# hyper[:4] are read by emfast.kernels.vae.adam.update_range
LR, BETA1, BETA2, EPS, VAR_FLOOR = range(5)


@jit
def train_steps(
    X,
    order,
    row_start,
    n_steps,
    batch_size,
    theta,
    grad_theta,
    state1,
    state2,
    optimizer,
    hyper,
    opt_step,
    layers,
    config,
    acts,
    grads_act,
    noise,
    work,
    rows64,
    sparse,
    noise_key,
    noise_index,
    step_losses,
):
    """Run up to ``n_steps`` minibatch steps; return how many completed.

    Step ``s`` trains on rows ``X[order[row_start + s * batch_size : ...]]``
    (the last minibatch of ``order`` may be shorter) with the loss ``mean_i
    -ELBO_i``. Its summed ``-ELBO`` goes to ``step_losses[s]``. If that loss is
    not finite, the step stops *before* updating the parameters and its index is
    returned (the caller reports the divergence).

    Parameters
    ----------
    X : (n_samples, n_features) float array
    order : int64 array
        Row order of this epoch.
    theta, grad_theta, state1, state2 : flat float arrays
        Parameters, gradient buffer, optimiser state (Adam: moments; Adagrad:
        ``state1`` holds the sums of squares).
    hyper : float64 array ``[lr, beta1, beta2, eps, var_floor]``
    opt_step : int
        Optimiser steps taken before this call.
    sparse : int64 array
        Room for the nonzero lists of a minibatch (:func:`sparse_lists`); the
        first layer uses them when at most ``MAX_DENSITY`` of the minibatch is
        nonzero.
    noise_index : int
        Stream index of the first row's noise; row ``r`` of the epoch order
        uses ``noise_index + (r - row_start) * L_even``.
    """
    max_rows = config[MAX_ROWS]
    n_latent = config[N_LATENT]
    stride = n_latent + (n_latent & 1)
    n_total = order.shape[0]
    for s in range(n_steps):
        start = row_start + s * batch_size
        n_rows = min(batch_size, n_total - start)
        x = slot(acts, layers[0, IN_SLOT], layers[0, N_IN], max_rows, n_rows)
        gather_rows(X, order, start, n_rows, x)
        row_ptr, col_ptr, row_index, col_index = sparse_lists(
            sparse, max_rows, x.shape[1]
        )
        nnz = sparse_structure(x, row_ptr, row_index, col_ptr, col_index)
        use_sparse = nnz <= MAX_DENSITY * x.size
        scale = 1.0 / n_rows
        eps = network_loss(
            theta,
            grad_theta,
            layers,
            config,
            hyper[VAR_FLOOR],
            x,
            acts,
            grads_act,
            noise,
            work,
            rows64,
            n_rows,
            noise_key,
            noise_index + (start - row_start) * stride,
            scale,
            True,
            sparse,
            use_sparse,
        )
        loss = total_loss(rows64, max_rows, n_rows)
        step_losses[s] = loss
        if not math.isfinite(loss):
            return s
        # gradients and the optimiser step, layer by layer
        network_backward(
            theta,
            grad_theta,
            layers,
            config,
            acts,
            grads_act,
            eps,
            n_rows,
            scale,
            sparse,
            use_sparse,
            optimizer,
            hyper,
            opt_step + s + 1,
            state1,
            state2,
        )
    return n_steps
