"""The VAE estimator: a scikit-learn-style front end to the numba trainer."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Literal, Self

import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from emfast.vae._attributes import FittedAttributesMixin
from emfast.vae._checks import (
    check_same_architecture,
    float_dtype,
    holdout_split,
    layer_sizes,
    unchanged_on_error,
)
from emfast.vae._early_stopping import EarlyStopping
from emfast.vae._fitting import TrainingMixin
from emfast.vae._methods import InferenceMixin
from emfast.vae._training import DivergenceError, empty_history

__all__ = ["VAE", "DivergenceError"]


class VAE(
    FittedAttributesMixin,
    InferenceMixin,
    TrainingMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
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
        alike: a fit on ``a * X + b`` is the fit on ``X`` (the same network, to
        rounding), and its scores are those of ``X`` shifted by
        ``-sum(log(a))`` (exactly for rows that standardise to the same
        values; otherwise with their own evaluation noise, see
        :meth:`score_samples`).
    batch_size : int, default=100
        Minibatch size, clipped to the number of training rows (as in
        scikit-learn's MLP). The last minibatch of an epoch may be smaller.
    optimizer : {"adam", "adagrad"}, default="adam"
        PyTorch's formulas, without weight decay.
    learning_rate : float, default=1e-3
        Step size of the optimiser.
    beta_1 : float, default=0.9
        Adam's decay rate of the first moment.
    beta_2 : float, default=0.999
        Adam's decay rate of the second moment.
    epsilon : float, default=1e-8
        Added to the optimiser's denominators.
    max_epochs : int, default=10
        Passes over the training data in :meth:`fit` (fewer if early stopping
        ends training).
    validation_fraction : float, default=0.0
        Fraction of the rows of ``fit`` held out (at random) to report a
        validation -ELBO after each epoch (``history_["val_loss"]``) and, with
        ``early_stopping``, to decide when to stop; 0 disables it.
    early_stopping : bool, default=False
        Stop :meth:`fit` when the validation score (the mean ELBO of the
        held-out rows) has not improved by at least ``tol`` for more than
        ``n_iter_no_change`` consecutive epochs, and keep the parameters of
        the epoch with the best validation score, as scikit-learn's
        ``MLPClassifier`` does: the best parameters are put back whenever
        training ends, stopped early or after ``max_epochs``; the optimiser's
        state and the counters (``n_epochs_``, ``t_``) stay those of the last
        epoch. Needs ``validation_fraction > 0``. Unlike the MLP, the training
        loss never stops training: without early stopping, :meth:`fit` runs
        ``max_epochs`` epochs. :meth:`partial_fit` (one epoch, no rows held
        out) ignores it, where the MLP's raises.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` tolerated before
        early stopping.
    tol : float, default=1e-4
        Improvement of the validation score (in nats per row) that counts for
        early stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial parameters, the shuffling and the noise. Fits with
        the same seed and the same ``n_jobs`` are identical: the noise is
        indexed by row, not drawn per thread, and another thread count changes
        only how BLAS splits the matrix products, hence the rounding.
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
    verbose : bool, default=False
        A progress bar per epoch (tqdm when installed, else one line).

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen in the first :meth:`fit` or
        :meth:`partial_fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of those features, when they were given with string column
        names (a pandas DataFrame).
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
    mean_ : ndarray of shape (n_features,) or None
        Per-feature mean of the first training rows, which the Gaussian
        decoder with linear means standardises by; None for the Bernoulli
        decoder and sigmoid means.
    scale_ : ndarray of shape (n_features,) or None
        Per-feature standard deviation (1 for constant features) of the same
        rows; None when ``mean_`` is None.
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
    validation_scores_ : list of float or None
        With ``early_stopping``: the validation score (mean ELBO of the
        held-out rows, ``-val_loss``) of every epoch of the last :meth:`fit`;
        else None (as in scikit-learn's MLP).
    best_validation_score_ : float or None
        With ``early_stopping``: the best of ``validation_scores_``, whose
        parameters the model keeps; else None.

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

    With ``set_output(transform="pandas")``, :meth:`transform` returns a
    DataFrame whose columns are :meth:`get_feature_names_out`: ``vae0``,
    ``vae1``, ... (one per latent dimension).

    Examples
    --------
    >>> import numpy as np
    >>> from emfast.vae import VAE
    >>> X = (np.random.default_rng(0).random((500, 64)) < 0.3).astype(np.float32)
    >>> vae = VAE(n_latent=2, hidden_layer_sizes=(32,), batch_size=50,
    ...           max_epochs=2, random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 2)
    >>> vae.get_feature_names_out()
    array(['vae0', 'vae1'], dtype=object)
    >>> vae.sample(2, random_state=0).shape
    (2, 64)
    """

    _parameter_constraints: dict = {
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
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": "no_validation",  # checked in _validate_params
        "n_jobs": [Integral, None],
        "verbose": ["boolean"],
    }

    def __init__(
        self,
        n_latent: int = 20,
        hidden_layer_sizes: int | Sequence[int] = (400,),
        decoder_layer_sizes: int | Sequence[int] | None = None,
        activation: Literal["relu", "tanh"] = "relu",
        likelihood: Literal["bernoulli", "gaussian"] = "bernoulli",
        batch_size: int = 100,
        optimizer: Literal["adam", "adagrad"] = "adam",
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        max_epochs: int = 10,
        validation_fraction: float = 0.0,
        early_stopping: bool = False,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        random_state: int | np.random.RandomState | None = None,
        dtype: DTypeLike = np.float32,
        n_jobs: int | None = None,
        verbose: bool = False,
    ) -> None:
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
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
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

    def fit(self, X: ArrayLike, y: object = None) -> Self:
        """Train from scratch for ``max_epochs`` epochs (fewer if stopped early).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (finite; in [0, 1] for the Bernoulli decoder).
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : VAE
            The fitted estimator.

        Raises
        ------
        ValueError
            Invalid parameters or data, or a ``validation_fraction`` that
            leaves no training or no validation rows.
        DivergenceError
            The loss became non-finite. Like any other error or an interrupt,
            it leaves the estimator exactly as it was before the call.
        """
        self._validate_params()
        if self.early_stopping and self.validation_fraction == 0:
            raise ValueError(
                "early_stopping=True needs validation rows: set "
                "validation_fraction > 0 (scikit-learn's MLP uses 0.1)."
            )
        with unchanged_on_error(self):
            kept = self._kept_model()
            X = self._check_data(X, reset=True)
            random_state = check_random_state(self.random_state)
            X_train, X_val = holdout_split(X, self.validation_fraction, random_state)
            X_train = self._initialize(X_train, random_state)
            if X_val is not None:
                X_val = self._network_input(X_val)
            self.history_ = empty_history(X_val is not None)
            stopper = None
            if self.early_stopping:
                stopper = EarlyStopping(self.tol, self.n_iter_no_change)
            self._train(X_train, self.max_epochs, X_val, kept, stopper)
            if stopper is not None and stopper.best_theta is not None:
                self._state.theta[:] = stopper.best_theta
            self.validation_scores_ = None if stopper is None else stopper.scores
            self.best_validation_score_ = (
                None if stopper is None or not stopper.scores else stopper.best_score
            )
        return self

    def partial_fit(self, X: ArrayLike, y: object = None) -> Self:
        """One epoch over ``X`` (shuffled, in minibatches); initialises if needed.

        No rows are held out for validation. The first call learns the
        architecture and (Gaussian decoder) the standardisation of the data;
        later calls keep both and refuse changed structural parameters
        (``n_latent``, layer sizes, ``activation``, ``likelihood``,
        ``optimizer``, ``dtype``). Minibatches are clipped to the rows of the
        call. ``early_stopping`` does not apply (scikit-learn's MLP raises
        instead).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (finite; in [0, 1] for the Bernoulli decoder).
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : VAE
            The updated estimator.

        Raises
        ------
        ValueError
            Invalid parameters or data, or a changed architecture.
        DivergenceError
            As in :meth:`fit`: an error or interrupt leaves the estimator as it
            was before the call.
        """
        self._validate_params()
        first = not hasattr(self, "_state")
        if not first:
            check_same_architecture(self, *self._layer_sizes())
        with unchanged_on_error(self):
            kept = self._kept_model()
            if first:
                X = self._check_data(X, reset=True)
                random_state = check_random_state(self.random_state)
                X = self._initialize(X, random_state)
                self.history_ = empty_history(False)
                self.validation_scores_ = None
                self.best_validation_score_ = None
            else:
                X = self._check_fitted_data(X, "partial_fit")
            self._train(X, 1, None, kept)
        return self

    # ------------------------------------------------------------ sklearn API

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Posterior means ``E[z | x]`` (the encoder's ``mu``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite rows (in [0, 1] for the Bernoulli decoder).

        Returns
        -------
        Z : ndarray of shape (n_samples, n_latent)
            The posterior means, in the model's dtype (a pandas DataFrame
            with columns :meth:`get_feature_names_out` after
            ``set_output(transform="pandas")``).

        Raises
        ------
        ValueError
            Invalid rows, or rows on which the encoder overflows (rows far
            outside the training data).
        """
        return self._posterior_means(X, "transform")

    @property
    def _n_features_out(self) -> int:
        """Columns of :meth:`transform` (for ``get_feature_names_out``)."""
        return self.layout_.n_latent

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        # the Bernoulli decoder refuses negative values (and values above 1,
        # for which scikit-learn has no tag)
        tags.input_tags.positive_only = self.likelihood == "bernoulli"
        # transform returns the model's dtype, whatever the input's
        try:
            tags.transformer_tags.preserves_dtype = [
                np.dtype(float_dtype(self.dtype)).name
            ]
        except ValueError:  # an invalid dtype parameter: fit will say so
            tags.transformer_tags.preserves_dtype = []
        return tags
