"""The Gaussian VAE on data of any scale: standardisation inside the estimator,
results in the units of the data, and rows the network cannot evaluate."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from emfast.kernels.vae.latent import fill_normal, row_key
from emfast.vae import VAE, _inference
from emfast.vae._scaling import BLOCK_ROWS, FeatureScaling

GAUSSIAN = dict(
    n_latent=2,
    hidden_layer_sizes=(16,),
    batch_size=20,
    likelihood="gaussian",
    max_epochs=3,
    learning_rate=1e-2,
    verbose=False,
)


def clustered(rng, n_samples=200, n_features=5):
    """Three Gaussian clusters in 5-D, not inside [0, 1] (linear decoder means)."""
    centers = rng.normal(scale=3.0, size=(3, n_features))
    labels = rng.integers(3, size=n_samples)
    return centers[labels] + rng.normal(size=(n_samples, n_features))


def test_scaling_statistics_match_numpy(rng, monkeypatch):
    monkeypatch.setattr("emfast.vae._scaling.BLOCK_ROWS", 7)  # several blocks
    X = clustered(rng, n_samples=50) * [1e-3, 1.0, 1e4, 1e150, 1.0] + 1e6
    X[:, 4] = 3.25  # a constant feature
    scaling = FeatureScaling.fit(X)
    assert_allclose(scaling.mean, X.mean(axis=0), rtol=1e-13)
    assert_allclose(scaling.std[:4], X[:, :4].std(axis=0), rtol=1e-9)
    assert scaling.std[4] == 1.0
    standardized = scaling.standardize(X, np.float64)
    assert standardized.flags.c_contiguous
    expected = (X - X.mean(axis=0)) / np.r_[X[:, :4].std(axis=0), 1.0]
    assert_allclose(standardized, expected, atol=1e-6)  # 1e6 offset: digits lost
    # the round trip loses no more than a few ulps of the column's largest value
    error = np.abs(scaling.restore(standardized) - X) / np.abs(X).max(axis=0)
    assert error.max() < 4 * np.finfo(np.float64).eps
    assert scaling.log_scale_sum == pytest.approx(np.log(scaling.std).sum(), 1e-14)
    # values up to the float64 maximum neither overflow nor lose digits
    big = np.clip(rng.normal(size=(30, 2)), -1, 1) * 1.7e308
    scaling = FeatureScaling.fit(big)
    assert_allclose(scaling.std, (big / 1e300).std(axis=0) * 1e300, rtol=1e-12)
    assert_allclose(scaling.restore(scaling.standardize(big, np.float64)), big)
    assert BLOCK_ROWS >= 1024  # the default keeps the float64 blocks small


@pytest.mark.parametrize(
    "scale, offset",
    [
        (1e3, 0.0),
        (1.0, 1e3),
        (100.0, 0.0),
        (1e-3, 1e6),
        ([1e-2, 1.0, 1e4, 3.0, 1e8], 0.0),
    ],
)
@pytest.mark.parametrize("dtype, base_rtol", [(np.float64, 1e-7), (np.float32, 2e-3)])
def test_unscaled_data_train_as_the_same_data_scaled(
    rng, scale, offset, dtype, base_rtol
):
    """A fit on a * X + b is the fit on X, scores shifted by -sum(log(a)).

    std or offset >= 1000 used to overflow the encoder at the first optimiser
    step whatever the learning rate; std 100 diverged at step 7.
    """
    X = clustered(rng)
    scale = np.asarray(scale, dtype=np.float64) * np.ones(X.shape[1])
    X_scaled = X * scale + offset
    # a * X + b holds X only to eps * |b| / a (2e-7 relative at a=1e-3, b=1e6),
    # and training carries that difference through to the results
    data_rtol = 100 * np.finfo(np.float64).eps * (abs(offset) / scale.min() + 10)
    rtol = base_rtol + 1000 * data_rtol  # training amplifies it up to ~1e3 times
    seed = int(rng.integers(1000))
    params = dict(GAUSSIAN, dtype=dtype, random_state=seed)
    plain = VAE(**params).fit(X)
    scaled = VAE(**params).fit(X_scaled)
    log_jacobian = np.log(scale).sum()
    assert_allclose(scaled.mean_, X_scaled.mean(axis=0), rtol=1e-12)
    assert_allclose(scaled.scale_, X_scaled.std(axis=0), rtol=1e-6)
    # the same network
    for got, want in zip(
        scaled.coefs_ + scaled.intercepts_, plain.coefs_ + plain.intercepts_
    ):
        assert_allclose(got, want, rtol=rtol, atol=rtol)
    assert_allclose(
        scaled.history_["train_loss"],
        np.array(plain.history_["train_loss"]) + log_jacobian,
        rtol=rtol,
        atol=rtol * abs(log_jacobian),
    )
    # its scores are the plain model's on the same standardised rows, shifted
    # by the log-Jacobian (the same rows: a row's evaluation noise is keyed by
    # its standardised values, which rounding may change between X and a * X + b)
    rows = scaled._network_input(X_scaled)
    plain_scores = -_inference.negative_elbo(plain, rows) - plain._log_scale_sum()
    assert_allclose(
        scaled.score_samples(X_scaled),
        plain_scores - log_jacobian,
        rtol=rtol,
        atol=rtol * abs(log_jacobian),
    )
    assert scaled.score(X_scaled) == pytest.approx(
        plain_scores.mean() - log_jacobian, rel=rtol, abs=rtol * abs(log_jacobian)
    )
    plain_iwae = _inference.importance_log_likelihood(plain, rows[:3], 50)
    assert_allclose(
        scaled.log_likelihood(X_scaled[:3], n_importance=50),
        plain_iwae - plain._log_scale_sum() - log_jacobian,
        rtol=rtol,
        atol=rtol * abs(log_jacobian),
    )
    # the same codes, decoder means, draws and variances in data units
    assert_allclose(
        scaled.transform(X_scaled), plain.transform(X), rtol=rtol, atol=rtol
    )
    spread = (X.std(axis=0) * scale)[None, :]
    Z = rng.normal(size=(20, 2))
    for method, args, kwargs in [
        ("decode", (Z,), {}),
        ("sample", (4,), {"random_state": 1, "mean": True}),
        ("sample", (4,), {"random_state": 1}),
        ("reconstruct", None, {}),
    ]:
        got = getattr(scaled, method)(*(args or (X_scaled[:20],)), **kwargs)
        want = getattr(plain, method)(*(args or (X[:20],)), **kwargs) * scale + offset
        assert got.dtype == np.float64
        assert_allclose((got - want) / spread, 0.0, atol=rtol * 10)
    assert_allclose(scaled.variance_, plain.variance_ * scale**2, rtol=rtol * 10)


def test_power_of_two_scales_shift_every_score_exactly(rng):
    """Features scaled by powers of two standardise to the same bits: the same
    fit, the same evaluation noise, every score and validation loss shifted by
    the log-Jacobian."""
    X = clustered(rng)
    scale = 2.0 ** np.array([-20.0, -3.0, 0.0, 7.0, 30.0])
    params = dict(GAUSSIAN, validation_fraction=0.2, dtype=np.float64, random_state=1)
    plain = VAE(**params).fit(X)
    scaled = VAE(**params).fit(X * scale)
    log_jacobian = np.log(scale).sum()
    for got, want in zip(scaled.coefs_, plain.coefs_):
        assert_array_equal(got, want)
    assert_allclose(
        scaled.history_["val_loss"],
        np.array(plain.history_["val_loss"]) + log_jacobian,
        rtol=1e-13,
    )
    assert_allclose(
        scaled.score_samples(X * scale),
        plain.score_samples(X) - log_jacobian,
        rtol=1e-13,
    )
    assert_allclose(
        scaled.log_likelihood(X[:4] * scale, n_importance=30),
        plain.log_likelihood(X[:4], n_importance=30) - log_jacobian,
        rtol=1e-13,
    )


def test_validation_loss_is_in_data_units(rng):
    """The validation -ELBO is the mean of -score_samples over the held-out
    rows (data units, including the log-Jacobian)."""
    X = clustered(rng) * [50.0, 1e-2, 1.0, 3e3, 7.0] + 300.0
    vae = VAE(**{**GAUSSIAN, "max_epochs": 1}, validation_fraction=0.25, random_state=1)
    vae.fit(X)
    held_out = np.random.RandomState(1).permutation(len(X))[: len(X) // 4]
    assert vae.history_["val_loss"][-1] == pytest.approx(
        -vae.score_samples(X[np.sort(held_out)]).mean(), rel=1e-12
    )


def test_scores_match_a_numpy_reference_in_data_units(rng):
    """The ELBO of a row recomputed in float64 numpy with the evaluation noise:
    standardise, encode, z = mu + sigma * eps, decode to data units, Gaussian
    log-density of the raw row minus the KL."""
    X = clustered(rng) * [50.0, 1e-2, 1.0, 3e3, 7.0] + 300.0
    vae = VAE(**GAUSSIAN, dtype=np.float64, random_state=0).fit(X)
    rows = X[:6]
    weights, biases = vae.coefs_, vae.intercepts_
    h = np.maximum((rows - vae.mean_) / vae.scale_ @ weights[0] + biases[0], 0)
    encoded = h @ weights[1] + biases[1]
    mu, log_var = encoded[:, :2], encoded[:, 2:]
    eps = np.empty((len(rows), 2))
    network_rows = vae._network_input(rows)  # standardised, as the kernels hash
    for i in range(len(rows)):
        # row i: the start of the stream keyed by its values
        fill_normal(eps[i], row_key(network_rows[i], vae._eval_key), 0)
    z = mu + np.exp(0.5 * log_var) * eps
    means = np.maximum(z @ weights[2] + biases[2], 0) @ weights[3] + biases[3]
    means = means * vae.scale_ + vae.mean_
    log_px_z = -0.5 * np.sum(
        np.log(2 * np.pi * vae.variance_) + (rows - means) ** 2 / vae.variance_,
        axis=1,
    )
    kl = 0.5 * np.sum(np.exp(log_var) + mu**2 - 1 - log_var, axis=1)
    assert_allclose(vae.score_samples(rows), log_px_z - kl, rtol=1e-9)
    assert_allclose(vae.transform(rows), mu, rtol=1e-10)


def test_rows_the_network_cannot_evaluate_raise(rng, monkeypatch):
    """NaN or -inf results used to come back silently."""
    X = clustered(rng)
    vae = VAE(**GAUSSIAN, random_state=0).fit(X)
    far = X[:3] * 1e20 + 1e25  # the encoder's variances overflow float32
    for method, args in [
        ("score_samples", ()),
        ("score", ()),
        ("log_likelihood", (10,)),
    ]:
        with pytest.raises(ValueError, match=r"of 3 of 3 rows \(first: row 0\)"):
            getattr(vae, method)(far, *args)
    # one bad row among good ones: the error names it
    mixed = np.vstack([X[:4], far[:1]])
    with pytest.raises(
        ValueError,
        match=r"score_samples: the ELBO of 1 of 5 rows \(first: row 4\) is not "
        r"finite: the network overflows float32",
    ):
        vae.score_samples(mixed)
    # rows a few standard deviations out are scored normally
    assert np.all(np.isfinite(vae.score_samples(X[:5] * 5)))
    # rows beyond float32 once standardised are refused before the network
    beyond = np.vstack([X[:2], X[:1] * 1e40])
    for method in ["transform", "reconstruct", "score_samples", "partial_fit"]:
        with pytest.raises(
            ValueError,
            match=rf"VAE\.{method}: the values of 1 of 3 rows \(first: row 2\) "
            r"overflow the model's float32 once standardised",
        ):
            getattr(vae, method)(beyond)
    with pytest.raises(ValueError, match=r"VAE\.decode: Z of 1 of 2 rows"):
        vae.decode([[0.0, 0.0], [1e39, -1e39]])
    # an encoder or decoder output that overflows is reported, not returned
    encode = _inference.encode

    def overflowing_encode(model, rows):
        encoded = encode(model, rows)
        encoded[1, 0] = np.inf
        return encoded

    monkeypatch.setattr(_inference, "encode", overflowing_encode)
    with pytest.raises(ValueError, match=r"transform: the posterior mean of 1 of 3"):
        vae.transform(X[:3])
    monkeypatch.setattr(
        _inference, "decode", lambda model, Z: np.full((len(Z), X.shape[1]), np.nan)
    )
    with pytest.raises(ValueError, match=r"decode: the decoder mean of 2 of 2"):
        vae.decode(np.zeros((2, 2)))


def test_standardised_model_pickles_and_continues(rng):
    X = clustered(rng) * 1e3
    vae = VAE(**GAUSSIAN, random_state=2).fit(X)
    clone = pickle.loads(pickle.dumps(vae))
    assert_array_equal(clone.mean_, vae.mean_)
    assert_array_equal(clone.score_samples(X), vae.score_samples(X))
    assert_array_equal(clone.decode(np.ones((2, 2))), vae.decode(np.ones((2, 2))))
    # partial_fit keeps the scaling of the first data, whatever comes next
    mean = vae.mean_.copy()
    vae.partial_fit(X[:100] + 5e3)
    assert_array_equal(vae.mean_, mean)


def test_first_partial_fit_learns_the_scaling(rng):
    X = clustered(rng) * 1e3 + 1e4
    vae = VAE(**GAUSSIAN, random_state=0).partial_fit(X)
    assert_allclose(vae.mean_, X.mean(axis=0), rtol=1e-12)
    assert np.isfinite(vae.score(X))


def test_unit_interval_data_keep_sigmoid_means_unscaled(rng):
    X = np.clip(clustered(rng) / 10 + 0.5, 0, 1)
    vae = VAE(**GAUSSIAN, random_state=0).fit(X)
    assert vae.sigmoid_mean_ and vae.mean_ is None and vae.scale_ is None
    assert vae.decode(np.zeros((2, 2))).dtype == np.float32
    bernoulli = VAE(**{**GAUSSIAN, "likelihood": "bernoulli"}, random_state=0).fit(X)
    assert bernoulli.mean_ is None and bernoulli.scale_ is None


def test_models_pickled_without_scaling_still_load(rng):
    """Pickles from before the standardisation existed hold neither attribute."""
    X = np.clip(clustered(rng) / 10 + 0.5, 0, 1)
    vae = VAE(**GAUSSIAN, random_state=0).fit(X)
    state = vae.__getstate__()
    del state["_scaling"], state["optimizer_"]
    old = VAE.__new__(VAE)
    old.__setstate__(state)
    assert_array_equal(old.score_samples(X), vae.score_samples(X))
    assert old.optimizer_ == "adam"
    old.partial_fit(X)


def test_models_pickled_without_early_stopping_still_load(rng):
    """Pickles from before early stopping lack its parameters and attributes."""
    X = clustered(rng)
    vae = VAE(**GAUSSIAN, random_state=0).fit(X)
    state = vae.__getstate__()
    for name in [
        "early_stopping",
        "n_iter_no_change",
        "tol",
        "validation_scores_",
        "best_validation_score_",
    ]:
        del state[name]
    old = VAE.__new__(VAE)
    old.__setstate__(state)
    assert old.get_params() == vae.get_params()
    assert old.validation_scores_ is None and old.best_validation_score_ is None
    assert_array_equal(old.score_samples(X), vae.score_samples(X))
    old.set_params(max_epochs=1).fit(X)
