"""The epoch loop: shuffling, minibatch kernels, progress, history, divergence.

A :class:`TrainState` holds everything an update changes (parameters, optimiser
state, step and noise counters). :func:`train_epochs` runs whole epochs of
:func:`emfast.kernels.vae.train.train_steps`, a few dozen minibatches per call
so that the progress bar moves without a Python round trip per minibatch.
"""

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from emfast.kernels.vae.adam import OPTIMIZERS
from emfast.kernels.vae.train import train_steps
from emfast.vae._layout import workspace

# minibatches per kernel call (one progress-bar update each)
STEPS_PER_CALL = 25


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainState:
    """What one optimisation step reads and writes (all of it pickles)."""

    theta: np.ndarray
    state1: np.ndarray
    state2: np.ndarray
    opt_step: int = 0
    noise_key: int = 0
    noise_index: int = 0
    epochs: int = 0

    def copy(self):
        return TrainState(
            self.theta.copy(),
            self.state1.copy(),
            self.state2.copy(),
            self.opt_step,
            self.noise_key,
            self.noise_index,
            self.epochs,
        )


@dataclass
class Settings:
    """The fixed inputs of the training kernels."""

    layout: object
    sigmoid_mean: bool
    batch_size: int
    optimizer: str
    hyper: np.ndarray  # float64 [lr, beta1, beta2, eps, var_floor]
    dtype: type
    # added to every reported -ELBO per sample: the log-Jacobian of the data's
    # standardisation (losses are reported in the units of the original data)
    loss_offset: float = 0.0
    buffers: dict = field(default_factory=dict)

    def kernel_buffers(self):
        if not self.buffers:
            self.buffers = workspace(self.layout, self.batch_size, self.dtype)
            self.buffers["layers"] = self.layout.layers()
            self.buffers["config"] = self.layout.config(
                self.batch_size, self.sigmoid_mean
            )
            self.buffers["grad"] = np.zeros(self.layout.n_params, dtype=self.dtype)
            self.buffers["step_losses"] = np.zeros(STEPS_PER_CALL)
        return self.buffers


class _Progress:
    """A tqdm bar per epoch when tqdm is installed, else one line at the end."""

    def __init__(self, verbose, n_samples, description):
        self.bar = None
        self.verbose = verbose
        self.description = description
        if verbose:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(
                total=n_samples,
                desc=description,
                unit="sample",
                leave=True,
                dynamic_ncols=True,
            )

    def update(self, n_samples, loss):
        if self.bar is not None:
            self.bar.update(n_samples)
            self.bar.set_postfix_str(f"-ELBO {loss:.2f}", refresh=False)

    def close(self, summary):
        if self.bar is not None:
            self.bar.set_postfix_str(summary)
            self.bar.close()
        elif self.verbose:
            print(f"{self.description}: {summary}", file=sys.stdout, flush=True)


def run_epoch(state, settings, X, order, progress):
    """One pass over ``X[order]`` in minibatches; returns the summed -ELBO.

    Raises :class:`DivergenceError` (leaving ``state`` mid-epoch: the caller
    restores it) when a minibatch loss is not finite.
    """
    buffers = settings.kernel_buffers()
    batch_size = settings.batch_size
    n_samples = order.shape[0]
    n_batches = -(-n_samples // batch_size)
    stride = settings.layout.n_latent + (settings.layout.n_latent & 1)
    optimizer = OPTIMIZERS[settings.optimizer]
    total = 0.0
    for first in range(0, n_batches, STEPS_PER_CALL):
        n_steps = min(STEPS_PER_CALL, n_batches - first)
        row_start = first * batch_size
        n_done = train_steps(
            X,
            order,
            row_start,
            n_steps,
            batch_size,
            state.theta,
            buffers["grad"],
            state.state1,
            state.state2,
            optimizer,
            settings.hyper,
            state.opt_step,
            buffers["layers"],
            buffers["config"],
            buffers["acts"],
            buffers["grads_act"],
            buffers["noise"],
            buffers["work"],
            buffers["rows64"],
            buffers["sparse"],
            state.noise_key,
            state.noise_index,
            buffers["step_losses"],
        )
        state.opt_step += n_done
        n_rows = min(n_samples, row_start + n_steps * batch_size) - row_start
        state.noise_index += n_rows * stride
        losses = buffers["step_losses"][:n_steps]
        if n_done < n_steps:
            raise DivergenceError(
                f"VAE training diverged: the minibatch -ELBO became "
                f"{losses[n_done]} at epoch {state.epochs + 1}, optimiser step "
                f"{state.opt_step + 1}"
            )
        total += float(losses.sum())
        progress.update(
            n_rows,
            total / min(n_samples, row_start + n_rows) + settings.loss_offset,
        )
    return total


def train_epochs(
    state,
    settings,
    X,
    n_epochs,
    random_state,
    verbose,
    history,
    validate=None,
    total_epochs=None,
    early_stopping=None,
):
    """Run ``n_epochs`` epochs on ``X`` (shuffled each epoch by ``random_state``).

    ``history`` (a dict of lists) gets one entry per epoch: ``train_loss`` (mean
    -ELBO of the epoch's minibatches, as trained), ``val_loss`` (``validate()``
    if given), ``samples_per_second`` and ``seconds`` (of the training pass).
    Losses include ``settings.loss_offset``. With ``early_stopping`` (an
    :class:`~emfast.vae._early_stopping.EarlyStopping`, used with
    ``validate``), each epoch's validation score ``-val_loss`` is recorded
    there and training ends early when its rule says so. On divergence, or non-finite
    parameters after an epoch, ``state`` is reset to where the epoch began (the
    last good parameters) and :class:`DivergenceError` is raised; on any other
    exception (an interrupt) ``state`` is reset the same way. The caller decides
    what the model keeps (the estimator restores its state from before the call).
    """
    if early_stopping is not None and validate is None:
        raise ValueError("early stopping needs a validation function")
    n_samples = X.shape[0]
    total_epochs = total_epochs or state.epochs + n_epochs
    for _ in range(n_epochs):
        good = state.copy()
        order = random_state.permutation(n_samples).astype(np.int64)
        progress = _Progress(
            verbose, n_samples, f"epoch {state.epochs + 1}/{total_epochs}"
        )
        start = time.perf_counter()
        try:
            total = run_epoch(state, settings, X, order, progress)
            if not np.isfinite(state.theta).all():
                raise DivergenceError(
                    f"VAE training diverged: parameters became non-finite in "
                    f"epoch {state.epochs + 1}"
                )
        except BaseException:
            if progress.bar is not None:
                progress.bar.close()
            _restore(state, good)
            raise
        seconds = time.perf_counter() - start
        state.epochs += 1
        train_loss = total / n_samples + settings.loss_offset
        history["train_loss"].append(train_loss)
        history["seconds"].append(seconds)
        history["samples_per_second"].append(n_samples / seconds)
        summary = f"-ELBO {train_loss:.3f}"
        if validate is not None:
            val_loss = validate()
            history["val_loss"].append(val_loss)
            summary += f", validation {val_loss:.3f}"
        summary += f", {n_samples / seconds:,.0f} samples/s, {seconds:.2f} s"
        progress.close(summary)
        if early_stopping is not None and early_stopping.update(-val_loss, state.theta):
            if verbose:
                print(early_stopping.message(), file=sys.stdout, flush=True)
            break
    return state


def _restore(state, good):
    state.theta[:] = good.theta
    state.state1[:] = good.state1
    state.state2[:] = good.state2
    state.opt_step = good.opt_step
    state.noise_index = good.noise_index
    state.epochs = good.epochs


def empty_history(with_validation):
    keys = ["train_loss", "samples_per_second", "seconds"]
    if with_validation:
        keys.insert(1, "val_loss")
    return {key: [] for key in keys}
