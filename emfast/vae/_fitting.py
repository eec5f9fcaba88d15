"""What :meth:`VAE.fit` and :meth:`VAE.partial_fit` share (a mixin).

Checking the training rows, building the network for them, the fixed inputs of
the training kernels and the epoch loop around them, with its threads and its
error messages.
"""

import numpy as np
from sklearn.utils.validation import validate_data

from emfast._numba import num_threads
from emfast.vae import _inference
from emfast.vae._checks import float_dtype, layer_sizes
from emfast.vae._layout import NetworkLayout
from emfast.vae._scaling import FeatureScaling
from emfast.vae._training import (
    DivergenceError,
    Settings,
    TrainState,
    train_epochs,
)


class TrainingMixin:
    """Data checks, initialisation and the training loop of :class:`VAE`."""

    def _check_data(self, X, reset):
        """Validated numeric rows; Bernoulli: in [0, 1], in the model's dtype.

        Other rows keep their numeric dtype (lists become float64): they reach
        the network through :meth:`_network_input`, which standardises in
        float64, so integers and float64 data far from the origin keep their
        digits and are not copied twice.
        """
        X = validate_data(self, X, reset=reset, dtype="numeric")
        likelihood = self.likelihood if reset else self.layout_.likelihood
        if likelihood == "bernoulli":
            dtype = float_dtype(self.dtype) if reset else self._fitted_dtype()
            X = np.ascontiguousarray(X, dtype=dtype)
            low, high = X.min(), X.max()  # validate_data: at least one value
            if low < 0 or high > 1:
                # scikit-learn's words for negative data (positive_only tag)
                problem = "Negative values in data passed to VAE" if low < 0 else ""
                raise ValueError(
                    f"{problem}{': t' if problem else 'T'}he Bernoulli decoder "
                    "needs data in [0, 1] (binary or probabilities); got values "
                    f"in [{low}, {high}]. Rescale the data or use "
                    "likelihood='gaussian'."
                )
        return X

    def _network_input(self, X):
        """Rows as the network reads them: standardised if the model scales data."""
        if self._scaling is not None:
            return self._scaling.standardize(X, self._fitted_dtype())
        with np.errstate(over="ignore"):  # inf in float32: inference reports it
            return np.ascontiguousarray(X, dtype=self._fitted_dtype())

    def _fitted_dtype(self):
        return self._state.theta.dtype.type

    def _layer_sizes(self):
        encoder = layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        if self.decoder_layer_sizes is None:
            return encoder, encoder[::-1]
        return encoder, layer_sizes(self.decoder_layer_sizes, "decoder_layer_sizes")

    def _initialize(self, X, random_state):
        """Build the network for training rows ``X``; return them as it reads them."""
        dtype = float_dtype(self.dtype)
        encoder, decoder = self._layer_sizes()
        self.layout_ = NetworkLayout(
            X.shape[1],
            int(self.n_latent),
            encoder,
            decoder,
            self.activation,
            self.likelihood,
        )
        self.optimizer_ = self.optimizer
        gaussian = self.likelihood == "gaussian"
        self.sigmoid_mean_ = bool(gaussian and X.min() >= 0 and X.max() <= 1)
        # data in [0, 1] with sigmoid means are on the unit scale already
        standardize = gaussian and not self.sigmoid_mean_
        self._scaling = FeatureScaling.fit(X) if standardize else None
        # theta first: _network_input reads the model's dtype from it
        theta = np.empty(self.layout_.n_params, dtype=dtype)
        self._state = TrainState(theta, np.zeros_like(theta), np.zeros_like(theta))
        X = self._network_input(X)
        mean_variance = (
            float(X.var(axis=0, dtype=np.float64).mean()) if gaussian else 1.0
        )
        self.var_floor_ = max(1e-6, 1e-4 * mean_variance) if gaussian else 0.0
        theta[:] = self.layout_.init_params(
            random_state, dtype, np.log(max(mean_variance, self.var_floor_))
        )
        self._random_state = random_state
        self._state.noise_key = int(random_state.randint(2**31))
        self._eval_key = int(random_state.randint(2**31))
        return X

    def _log_scale_sum(self):
        """``sum_j log scale_j`` (0 without scaling): ELBOs of the data's units."""
        return 0.0 if self._scaling is None else self._scaling.log_scale_sum

    def _settings(self, n_rows):
        """The kernels' fixed inputs; minibatches of at most ``n_rows`` rows.

        As in scikit-learn's MLP, the batch size is clipped to the number of
        training rows.
        """
        hyper = np.array(
            [
                self.learning_rate,
                self.beta_1,
                self.beta_2,
                self.epsilon,
                self.var_floor_,
            ],
            dtype=np.float64,
        )
        return Settings(
            self.layout_,
            self.sigmoid_mean_,
            min(int(self.batch_size), n_rows),
            self.optimizer_,
            hyper,
            self._fitted_dtype(),
            loss_offset=self._log_scale_sum(),
        )

    def _kept_model(self):
        """What a failing call leaves, in words (for the divergence message)."""
        if not hasattr(self, "_state"):
            return "the estimator stays unfitted"
        return f"the model is left as it was ({self._state.epochs} epochs trained)"

    def _train(self, X, n_epochs, X_val, kept, early_stopping=None):
        """``n_epochs`` epochs on the network rows ``X``, scored on ``X_val``.

        With ``early_stopping``, training may end before ``n_epochs``; the
        caller puts the best parameters back.
        """
        settings = self._settings(X.shape[0])
        validate = None
        if X_val is not None:

            def validate():
                losses = _inference.negative_elbo(self, X_val)
                return float(np.mean(losses)) + settings.loss_offset

        from threadpoolctl import threadpool_limits

        # The training step is serial numba code around BLAS calls, so threads
        # go to BLAS: on an idle 2-core x86-64 machine the three 100 x 400 x 784
        # sgemm calls per step take 0.52 ms each on one thread and 0.31 ms on
        # two. With another process busy on that machine (~1.3 cores taken),
        # two BLAS threads wait for each other at every call: 1.4k-3.4k
        # samples/s against 27k on one thread. Hence one thread unless n_jobs
        # asks for more.
        blas_threads = 1 if self.n_jobs is None else None
        with (
            num_threads(self.n_jobs) as n_threads,
            threadpool_limits(limits=blas_threads or n_threads, user_api="blas"),
        ):
            try:
                train_epochs(
                    self._state,
                    settings,
                    X,
                    n_epochs,
                    self._random_state,
                    self.verbose,
                    self.history_,
                    validate,
                    early_stopping=early_stopping,
                )
            except DivergenceError as error:
                raise DivergenceError(
                    f"{error}; {kept}. Try a smaller learning_rate."
                ) from None
