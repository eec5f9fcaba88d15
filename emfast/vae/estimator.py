"""The VAE estimator: a scikit-learn-style front end to the numba trainer."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from emfast._numba import num_threads
from emfast.vae import _inference
from emfast.vae._attributes import FittedAttributesMixin
from emfast.vae._checks import (
    check_batch_rows,
    check_same_architecture,
    float_dtype,
    holdout_split,
    layer_sizes,
    unchanged_on_error,
)
from emfast.vae._layout import NetworkLayout
from emfast.vae._methods import InferenceMixin
from emfast.vae._scaling import FeatureScaling
from emfast.vae._training import (
    DivergenceError,
    Settings,
    TrainState,
    empty_history,
    train_epochs,
)

__all__ = ["VAE", "DivergenceError"]


class VAE(FittedAttributesMixin, InferenceMixin, TransformerMixin, BaseEstimator):
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
    hidden_layer_sizes : int or sequence of int, default=(400,)
        Hidden layers of the encoder, from the input (widths >= 1; an empty
        sequence gives a linear encoder).
    decoder_layer_sizes : int, sequence of int or None, default=None
        Hidden layers of the decoder, from the latent space; ``None`` mirrors
        the encoder (``hidden_layer_sizes`` reversed).
    activation : {"relu", "tanh"}, default="relu"
        Activation of every hidden layer.
    likelihood : {"bernoulli", "gaussian"}, default="bernoulli"
        Decoder distribution. ``"bernoulli"`` needs data in [0, 1] (binary, or
        grey levels read as probabilities) and outputs logits. ``"gaussian"``
        learns one variance per feature (not depending on ``z``); its means
        pass through a sigmoid when the training data lie in [0, 1] (as in the
        paper), else are linear. With linear means the network works on
        standardised data: each feature is centred and scaled to unit variance
        with statistics of the first training rows (``mean_``, ``scale_``),
        which are kept with the model; inputs are standardised and outputs
        (``decode``, ``sample``, ``reconstruct``, ``variance_``) returned in
        the units of the data, and scores are log-densities of the data
        (including ``-sum(log(scale_))``). Data of any scale and offset train
        alike: a fit on ``a * X + b`` is the fit on ``X``, scores shifted by
        ``-sum(log(a))``.
    batch_size : int, default=100
        Minibatch size. The last minibatch of an epoch may be smaller; ``fit``
        and ``partial_fit`` need at least ``batch_size`` training rows.
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
        Gaussian decoder variances in data units (None for Bernoulli).
    var_floor_ : float
        Lower bound added to the Gaussian variances as the network sees the
        data (standardised when ``scale_`` is set, so feature ``j``'s variance
        is at least ``var_floor_ * scale_[j] ** 2``): 1e-4 times the mean
        feature variance of the first training rows, at least 1e-6.
    sigmoid_mean_ : bool
        Whether the decoder means pass through a sigmoid.
    mean_, scale_ : ndarray of shape (n_features,) or None
        Per-feature mean and standard deviation (1 for constant features) of
        the first training rows, which the Gaussian decoder with linear means
        standardises by; None for the Bernoulli decoder and sigmoid means.
    optimizer_ : str
        The optimiser the model was trained with (fixed at the first fit).
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
    :class:`DivergenceError` (a ``FloatingPointError``). A ``fit`` or
    ``partial_fit`` call that raises (divergence, bad input, Ctrl-C) leaves the
    estimator exactly as it was before the call: a failed ``fit`` keeps the
    previous model (or none), not the epochs it completed. To keep every
    completed epoch, train with ``partial_fit`` one epoch per call.

    Inference methods raise ``ValueError`` for rows on which the network
    overflows (rows far outside the training data) instead of returning NaN
    or infinite values.

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
        # checked further (integer widths >= 1) in _validate_params
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "decoder_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
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
        "dtype": "no_validation",  # checked in _validate_params
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

    def _validate_params(self):
        super()._validate_params()
        layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        if self.decoder_layer_sizes is not None:
            layer_sizes(self.decoder_layer_sizes, "decoder_layer_sizes")
        float_dtype(self.dtype)

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
            The loss became non-finite. Like any other error or an interrupt,
            it leaves the estimator exactly as it was before the call.
        """
        self._validate_params()
        with unchanged_on_error(self):
            kept = self._kept_model()
            X = self._check_data(X, reset=True)
            random_state = check_random_state(self.random_state)
            X_train, X_val = holdout_split(
                X, self.validation_fraction, self.batch_size, random_state
            )
            X_train = self._initialize(X_train, random_state)
            if X_val is not None:
                X_val = self._network_input(X_val)
            self.history_ = empty_history(X_val is not None)
            self._train(X_train, self.max_epochs, X_val, kept)
        return self

    def partial_fit(self, X, y=None):
        """One epoch over ``X`` (shuffled, in minibatches); initialises if needed.

        No rows are held out for validation. The first call learns the
        architecture and (Gaussian decoder) the standardisation of the data;
        later calls keep both and refuse changed structural parameters
        (``n_latent``, layer sizes, ``activation``, ``likelihood``,
        ``optimizer``, ``dtype``). Parameters are as in :meth:`fit`; an error or
        interrupt leaves the estimator as it was before the call.

        Returns
        -------
        self : VAE
        """
        self._validate_params()
        first = not hasattr(self, "_state")
        if not first:
            check_same_architecture(self, *self._layer_sizes())
        with unchanged_on_error(self):
            kept = self._kept_model()
            if first:
                X = self._check_data(X, reset=True)
                check_batch_rows(X.shape[0], self.batch_size)
                random_state = check_random_state(self.random_state)
                X = self._initialize(X, random_state)
                self.history_ = empty_history(False)
            else:
                X = self._check_fitted_data(X, "partial_fit")
                check_batch_rows(X.shape[0], self.batch_size)
            self._train(X, 1, None, kept)
        return self

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
            if X.min() < 0 or X.max() > 1:
                raise ValueError(
                    "The Bernoulli decoder needs data in [0, 1] (binary or "
                    f"probabilities); got values in [{X.min()}, {X.max()}]. "
                    "Rescale the data or use likelihood='gaussian'."
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

    def _train(self, X, n_epochs, X_val, kept):
        settings = self._settings()
        validate = None
        if X_val is not None:

            def validate():
                losses = _inference.negative_elbo(self, X_val)
                return float(np.mean(losses)) + settings.loss_offset

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
                )
            except DivergenceError as error:
                raise DivergenceError(
                    f"{error}; {kept}. Try a smaller learning_rate."
                ) from None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
