"""The VAE estimator: a scikit-learn-style front end to the numba trainer."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from emfast._numba import num_threads
from emfast.vae import _inference
from emfast.vae._layout import NetworkLayout
from emfast.vae._methods import InferenceMixin
from emfast.vae._training import (
    DivergenceError,
    Settings,
    TrainState,
    empty_history,
    train_epochs,
)

__all__ = ["VAE", "DivergenceError"]


class VAE(InferenceMixin, TransformerMixin, BaseEstimator):
    """Variational autoencoder trained by minibatch stochastic gradients (numba).

    EM with an amortised, learned E-step (Kingma & Welling, 2014): an MLP
    encoder maps ``x`` to a diagonal Gaussian ``q(z | x)``; one reparameterised
    sample ``z = mu + sigma * eps`` feeds an MLP decoder ``p(x | z)``; the loss
    is the negative evidence lower bound ``-ELBO = -log p(x | z) + KL(q(z | x)
    || N(0, I))`` (KL in closed form), averaged over a minibatch. Forward and
    backward passes, the loss and the optimiser run in emfast's numba kernels
    (float32 by default, losses accumulated in float64); no deep-learning
    framework is used.

    Parameters
    ----------
    n_latent : int, default=20
        Dimension of the latent space.
    hidden_layer_sizes : tuple of int, default=(400,)
        Hidden layers of the encoder, from the input.
    decoder_layer_sizes : tuple of int or None, default=None
        Hidden layers of the decoder, from the latent space; ``None`` mirrors
        the encoder (``hidden_layer_sizes`` reversed).
    activation : {"relu", "tanh"}, default="relu"
        Activation of every hidden layer.
    likelihood : {"bernoulli", "gaussian"}, default="bernoulli"
        Decoder distribution. ``"bernoulli"`` needs data in [0, 1] (binary, or
        grey levels read as probabilities) and outputs logits. ``"gaussian"``
        learns one variance per feature (``exp(s_j) + var_floor_``, not
        depending on ``z``); its means pass through a sigmoid when the
        training data lie in [0, 1] (as in the paper), else are linear.
    batch_size : int, default=100
        Minibatch size. The last minibatch of an epoch may be smaller.
    optimizer : {"adam", "adagrad"}, default="adam"
        PyTorch's formulas, without weight decay.
    learning_rate : float, default=1e-3
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's moment decay rates.
    epsilon : float, default=1e-8
        Added to the optimiser's denominators.
    max_epochs : int, default=10
        Passes over the training data in :meth:`fit`.
    validation_fraction : float, default=0.0
        Fraction of the rows of ``fit`` held out (at random) to report a
        validation -ELBO after each epoch; 0 disables it.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial parameters, the shuffling and the noise. Fits with
        the same seed and the same ``n_jobs`` are identical. (The noise is
        indexed by row, not drawn per thread; another thread count changes only
        how BLAS splits the matrix products, hence the rounding.)
    dtype : {np.float32, np.float64}, default=np.float32
        Type of parameters and activations.
    n_jobs : int or None, default=None
        Threads. Training gives them to BLAS (the minibatch step is serial
        numba code around three large matrix products); ``None`` trains on one
        thread, which is the robust choice on a machine shared with other busy
        processes (two BLAS threads are ~25 % faster on idle cores but 10x
        slower when another process takes a core). Inference runs rows in
        parallel on ``n_jobs`` numba threads (``None``: numba's current
        setting) with serial BLAS.
    verbose : bool, default=True
        A progress bar per epoch (tqdm when installed, else one line).

    Attributes
    ----------
    n_features_in_ : int
    coefs_ : list of ndarray
        Weights ``(n_in, n_out)`` of every dense layer, encoder first; the
        encoder's last layer outputs ``[mu, log_var]``.
    intercepts_ : list of ndarray
        Biases of every dense layer.
    variance_ : ndarray of shape (n_features,) or None
        Gaussian decoder variances (None for Bernoulli).
    var_floor_ : float
        Lower bound added to the Gaussian variances (1e-4 times the mean
        feature variance of the first training data, at least 1e-6).
    sigmoid_mean_ : bool
        Whether the decoder means pass through a sigmoid.
    n_epochs_ : int
        Epochs trained so far (``fit`` and ``partial_fit``).
    t_ : int
        Optimiser steps taken so far.
    history_ : dict of lists
        Per epoch: ``train_loss`` (mean -ELBO of the epoch's minibatches, in
        nats per sample), ``val_loss`` (with ``validation_fraction > 0``),
        ``samples_per_second`` and ``seconds`` of the training pass.

    Notes
    -----
    If the loss becomes NaN or infinite, training stops with
    :class:`DivergenceError` (a ``FloatingPointError``) and the model keeps
    the parameters it had at the start of the failing epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast.vae import VAE
    >>> X = (np.random.default_rng(0).random((500, 64)) < 0.3).astype(np.float32)
    >>> vae = VAE(n_latent=2, hidden_layer_sizes=(32,), batch_size=50,
    ...           max_epochs=2, random_state=0, verbose=False).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        "n_latent": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": [tuple, list],
        "decoder_layer_sizes": [tuple, list, None],
        "activation": [StrOptions({"relu", "tanh"})],
        "likelihood": [StrOptions({"bernoulli", "gaussian"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"adam", "adagrad"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
        "dtype": "no_validation",
        "n_jobs": [Integral, None],
        "verbose": ["boolean"],
    }

    def __init__(
        self,
        n_latent=20,
        hidden_layer_sizes=(400,),
        decoder_layer_sizes=None,
        activation="relu",
        likelihood="bernoulli",
        batch_size=100,
        optimizer="adam",
        learning_rate=1e-3,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        max_epochs=10,
        validation_fraction=0.0,
        random_state=None,
        dtype=np.float32,
        n_jobs=None,
        verbose=True,
    ):
        self.n_latent = n_latent
        self.hidden_layer_sizes = hidden_layer_sizes
        self.decoder_layer_sizes = decoder_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None):
        """Train from scratch for ``max_epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (finite; in [0, 1] for the Bernoulli decoder).
        y : ignored

        Returns
        -------
        self : VAE

        Raises
        ------
        ValueError
            Invalid parameters or data, or fewer rows than ``batch_size``.
        DivergenceError
            The loss became non-finite (the model keeps its last good state).
        """
        self._validate_params()
        saved = dict(self.__dict__)
        try:
            X = self._check_data(X, reset=True)
            random_state = check_random_state(self.random_state)
            X_train, X_val = self._split(X, random_state)
            self._initialize(X_train, random_state)
            self.history_ = empty_history(X_val is not None)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        self._train(X_train, self.max_epochs, X_val)
        return self

    def partial_fit(self, X, y=None):
        """One epoch over ``X`` (shuffled, in minibatches); initialises if needed.

        No rows are held out for validation. Parameters are as in :meth:`fit`.

        Returns
        -------
        self : VAE
        """
        first = not hasattr(self, "_state")
        if first:
            self._validate_params()
        saved = dict(self.__dict__)
        try:
            X = self._check_data(X, reset=first)
            self._check_batch(X.shape[0])
            if first:
                random_state = check_random_state(self.random_state)
                self._initialize(X, random_state)
                self.history_ = empty_history(False)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        self._train(X, 1, None)
        return self

    def _check_data(self, X, reset):
        X = validate_data(
            self, X, reset=reset, dtype=[np.float32, np.float64], order="C"
        )
        X = np.ascontiguousarray(X, dtype=self._dtype())
        if self.likelihood == "bernoulli" and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                "The Bernoulli decoder needs data in [0, 1] (binary or "
                f"probabilities); got values in [{X.min()}, {X.max()}]. Rescale "
                "the data or use likelihood='gaussian'."
            )
        return X

    def _dtype(self):
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        return dtype.type

    def _check_batch(self, n_samples):
        if n_samples < self.batch_size:
            raise ValueError(
                f"Expected at least batch_size={self.batch_size} training rows, got "
                f"{n_samples}; lower batch_size or pass more data."
            )

    def _split(self, X, random_state):
        n_samples = X.shape[0]
        n_val = int(round(self.validation_fraction * n_samples))
        if self.validation_fraction > 0 and n_val == 0:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no "
                f"validation rows out of {n_samples}"
            )
        self._check_batch(n_samples - n_val)
        if n_val == 0:
            return X, None
        order = random_state.permutation(n_samples)
        return X[np.sort(order[n_val:])], X[np.sort(order[:n_val])]

    def _initialize(self, X, random_state):
        dtype = self._dtype()
        encoder = tuple(int(n) for n in self.hidden_layer_sizes)
        decoder = (
            encoder[::-1]
            if self.decoder_layer_sizes is None
            else tuple(int(n) for n in self.decoder_layer_sizes)
        )
        if any(n < 1 for n in encoder + decoder):
            raise ValueError("hidden layer sizes must be positive integers")
        self.layout_ = NetworkLayout(
            X.shape[1],
            int(self.n_latent),
            encoder,
            decoder,
            self.activation,
            self.likelihood,
        )
        gaussian = self.likelihood == "gaussian"
        self.sigmoid_mean_ = bool(gaussian and X.min() >= 0 and X.max() <= 1)
        mean_variance = (
            float(X.var(axis=0, dtype=np.float64).mean()) if gaussian else 1.0
        )
        self.var_floor_ = max(1e-6, 1e-4 * mean_variance) if gaussian else 0.0
        theta = self.layout_.init_params(
            random_state, dtype, np.log(max(mean_variance, self.var_floor_))
        )
        self._random_state = random_state
        self._state = TrainState(
            theta,
            np.zeros_like(theta),
            np.zeros_like(theta),
            noise_key=int(random_state.randint(2**31)),
        )
        self._eval_key = int(random_state.randint(2**31))

    def _settings(self):
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
            int(self.batch_size),
            self.optimizer,
            hyper,
            self._dtype(),
        )

    def _train(self, X, n_epochs, X_val):
        settings = self._settings()
        validate = None
        if X_val is not None:

            def validate():
                return float(np.mean(_inference.negative_elbo(self, X_val)))

        from threadpoolctl import threadpool_limits

        # The training step is serial numba code around BLAS calls, so threads
        # go to BLAS: the three 100 x 400 x 784 sgemm calls per step took
        # 0.52 ms each on one thread and 0.31 ms on two (development VM, idle).
        # With another process busy on the machine, two BLAS threads wait for
        # each other at every call: 1.4k-3.4k samples/s against 27k on one
        # thread (same VM, ~1.3 cores taken). Hence one thread unless n_jobs
        # asks for more.
        blas_threads = 1 if self.n_jobs is None else None
        with (
            num_threads(self.n_jobs) as n_threads,
            threadpool_limits(limits=blas_threads or n_threads, user_api="blas"),
        ):
            train_epochs(
                self._state,
                settings,
                X,
                n_epochs,
                self._random_state,
                self.verbose,
                self.history_,
                validate,
            )

    # ----------------------------------------------------------- attributes

    @property
    def n_epochs_(self):
        check_is_fitted(self, "_state")
        return self._state.epochs

    @property
    def t_(self):
        check_is_fitted(self, "_state")
        return self._state.opt_step

    @property
    def coefs_(self):
        check_is_fitted(self, "_state")
        return [w for w, _ in self.layout_.split(self._state.theta)]

    @property
    def intercepts_(self):
        check_is_fitted(self, "_state")
        return [b for _, b in self.layout_.split(self._state.theta)]

    @property
    def variance_(self):
        check_is_fitted(self, "_state")
        if self.likelihood != "gaussian":
            return None
        start = self.layout_.var_offset
        raw = self._state.theta[start : start + self.layout_.n_features]
        return np.exp(raw.astype(np.float64)) + self.var_floor_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
