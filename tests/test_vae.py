"""The VAE estimator: learning, inference methods, reproducibility, pickling,
bad input and divergence. Small networks on scikit-learn's digits (/16) or
generated data."""

import pickle
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

from emfast.vae import VAE, DivergenceError, _inference

SMALL = dict(n_latent=2, hidden_layer_sizes=(16,), batch_size=20, verbose=False)


@pytest.fixture(scope="module")
def digits():
    return (load_digits().data / 16).astype(np.float32)


def binary_data(rng, n_samples=200, n_features=12):
    """Two clusters of binary patterns (a structure a 1-D latent space can hold)."""
    prototypes = rng.random((2, n_features)) < 0.5
    labels = rng.integers(2, size=n_samples)
    flips = rng.random((n_samples, n_features)) < 0.1
    return (prototypes[labels] ^ flips).astype(np.float32)


def independent_bernoulli_nll(X_train, X_test):
    """-log p of the best model with independent pixels (the baseline to beat)."""
    p = np.clip(X_train.mean(axis=0), 1e-3, 1 - 1e-3)
    return -np.mean(X_test @ np.log(p) + (1 - X_test) @ np.log1p(-p))


def test_learns_digits_better_than_independent_pixels(rng, digits):
    order = rng.permutation(len(digits))
    train, test = digits[order[:1500]], digits[order[1500:]]
    vae = VAE(
        n_latent=4,
        hidden_layer_sizes=(64,),
        batch_size=50,
        max_epochs=30,
        learning_rate=3e-3,
        random_state=int(rng.integers(1000)),
        verbose=False,
    ).fit(train)
    losses = vae.history_["train_loss"]
    assert losses[-1] < losses[0] - 1.0
    # grey levels read as Bernoulli probabilities: the independent-pixel baseline
    # is ~27 nats per image, the VAE gets ~24.2-24.9 (a floor: the grey levels'
    # own entropy)
    baseline = independent_bernoulli_nll(train, test)
    elbo = vae.score(test)
    assert -elbo < baseline - 1.5
    # the IWAE bound lies above the ELBO (by 0.3-0.8 nats here; the one-sample
    # ELBO estimate of ~300 rows is noisy at ~0.1 nats)
    iwae = vae.log_likelihood(test, n_importance=100).mean()
    assert elbo - 0.2 < iwae < elbo + 3.0


def numpy_forward(weights, biases, h, activation="relu"):
    for k, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w + b
        if k < len(weights) - 1:
            h = np.maximum(h, 0) if activation == "relu" else np.tanh(h)
    return h


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_transform_and_decode_match_numpy(rng, monkeypatch, n_jobs):
    X = binary_data(rng, n_samples=100)
    vae = VAE(
        **SMALL, max_epochs=1, random_state=0, n_jobs=n_jobs, dtype=np.float64
    ).fit(X)
    monkeypatch.setattr(_inference, "EVAL_ROWS", 16)  # several chunks per worker
    weights, biases = vae.coefs_, vae.intercepts_
    encoded = numpy_forward(weights[:2], biases[:2], X)
    assert_allclose(vae.transform(X), encoded[:, :2], rtol=1e-12)
    Z = rng.normal(size=(50, 2))
    logits = numpy_forward(weights[2:], biases[2:], Z)
    assert_allclose(vae.decode(Z), 1 / (1 + np.exp(-logits)), rtol=1e-12)


def test_inference_shapes_and_consistency(rng, monkeypatch):
    X = binary_data(rng)
    vae = VAE(**SMALL, max_epochs=2, random_state=0).fit(X)
    Z = vae.transform(X[:7])
    assert Z.shape == (7, 2) and Z.dtype == np.float32
    decoded = vae.decode(Z)
    assert decoded.shape == (7, 12) and decoded.dtype == np.float32
    assert np.all((decoded > 0) & (decoded < 1))
    assert_allclose(vae.reconstruct(X[:7]), decoded, rtol=1e-6)
    assert vae.sample(5, random_state=1).shape == (5, 12)
    assert_array_equal(vae.sample(3, random_state=1), vae.sample(3, random_state=1))
    elbo = vae.score_samples(X[:30])
    assert elbo.shape == (30,) and elbo.dtype == np.float64 and np.all(elbo < 0)
    assert_array_equal(elbo, vae.score_samples(X[:30]))  # fixed evaluation noise
    assert vae.score(X[:30]) == pytest.approx(elbo.mean())
    # a row's ELBO does not depend on how rows are chunked
    monkeypatch.setattr(_inference, "EVAL_ROWS", 7)
    assert_allclose(vae.score_samples(X[:30]), elbo, rtol=1e-6)
    assert [w.shape for w in vae.coefs_] == [(12, 16), (16, 4), (2, 16), (16, 12)]
    assert [b.shape for b in vae.intercepts_] == [(16,), (4,), (16,), (12,)]
    assert vae.n_epochs_ == 2 and vae.t_ == 2 * 10


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_scores_do_not_depend_on_the_other_rows(rng, likelihood):
    """A row's evaluation noise is keyed by its values: scores of a subset or a
    permutation are the matching scores of the whole (they used to depend on
    the row's position)."""
    X = binary_data(rng, n_samples=80)
    if likelihood == "gaussian":
        X = X + rng.normal(scale=0.3, size=X.shape)
    vae = VAE(**SMALL, likelihood=likelihood, max_epochs=2, random_state=0).fit(X)
    elbo = vae.score_samples(X)
    iwae = vae.log_likelihood(X, n_importance=20)
    order = rng.permutation(len(X))
    assert_array_equal(vae.score_samples(X[order]), elbo[order])
    assert_array_equal(vae.log_likelihood(X[order], n_importance=20), iwae[order])
    for row in rng.choice(len(X), size=3, replace=False):
        assert_array_equal(vae.score_samples(X[row : row + 1]), elbo[row : row + 1])
    # equal rows score equally
    twice = np.vstack([X[:5], X[:5]])
    assert_array_equal(vae.score_samples(twice), np.tile(elbo[:5], 2))
    # posterior means (no noise) are row by row as well
    assert_array_equal(vae.transform(X[order]), vae.transform(X)[order])


def test_importance_sampling_matches_quadrature(rng):
    """With one latent dimension, log p(x) = log int p(z) p(x|z) dz by quadrature."""
    X = binary_data(rng, n_features=8)
    vae = VAE(
        n_latent=1,
        hidden_layer_sizes=(8,),
        batch_size=20,
        max_epochs=20,
        learning_rate=1e-2,
        dtype=np.float64,
        random_state=0,
        verbose=False,
    ).fit(X)
    grid = np.linspace(-10, 10, 8001)
    probs = vae.decode(grid[:, None])  # (n_grid, n_features)
    rows = X[:4].astype(np.float64)
    log_pxz = rows @ np.log(probs).T + (1 - rows) @ np.log1p(-probs).T
    log_joint = log_pxz - 0.5 * grid**2 - 0.5 * np.log(2 * np.pi)
    top = log_joint.max(axis=1, keepdims=True)
    exact = top[:, 0] + np.log(np.trapezoid(np.exp(log_joint - top), grid, axis=1))
    # after 20 epochs q(z|x) is a rough match, so the importance weights are
    # heavy-tailed: 5000 samples missed by 0.052 on one draw of the data (the
    # largest error over 15 others was 0.047), 2e5 samples by at most 0.017
    estimate = vae.log_likelihood(rows, n_importance=200_000)
    assert_allclose(estimate, exact, atol=0.05)
    # the posterior must not have collapsed onto the prior for this to mean much
    assert np.ptp(vae.transform(X[:50])) > 0.05


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_reproducible_at_a_fixed_thread_count(rng, n_jobs):
    X = (rng.random((400, 300)) < 0.2).astype(np.float32)
    seed = int(rng.integers(1000))
    params = dict(SMALL, hidden_layer_sizes=(64,), max_epochs=2, random_state=seed)
    one, two = (VAE(**params, n_jobs=n_jobs).fit(X) for _ in range(2))
    for a, b in zip(one.coefs_, two.coefs_):
        assert_array_equal(a, b)
    assert one.history_["train_loss"] == two.history_["train_loss"]
    assert_array_equal(one.score_samples(X), two.score_samples(X))
    # another thread count only changes how BLAS splits the products (rounding)
    other = VAE(**params, n_jobs=3 - n_jobs).fit(X)
    assert_allclose(other.coefs_[0], one.coefs_[0], rtol=1e-3, atol=1e-5)


def test_pickle_round_trip_and_continue(rng):
    X = binary_data(rng)
    vae = VAE(**SMALL, max_epochs=1, random_state=3).fit(X)
    clone = pickle.loads(pickle.dumps(vae))
    assert_array_equal(clone.transform(X), vae.transform(X))
    assert_array_equal(clone.score_samples(X), vae.score_samples(X))
    vae.partial_fit(X)
    clone.partial_fit(X)
    assert_array_equal(clone.coefs_[0], vae.coefs_[0])
    assert clone.n_epochs_ == 2 and len(clone.history_["train_loss"]) == 2


def test_partial_fit_epoch_equals_fit_epoch(rng):
    X = binary_data(rng)
    one = VAE(**SMALL, max_epochs=2, random_state=5).fit(X)
    other = VAE(**SMALL, random_state=5).partial_fit(X).partial_fit(X)
    for a, b in zip(one.coefs_, other.coefs_):
        assert_array_equal(a, b)


def test_validation_history(rng):
    X = binary_data(rng)
    vae = VAE(**SMALL, max_epochs=3, validation_fraction=0.2, random_state=0).fit(X)
    history = vae.history_
    assert set(history) == {"train_loss", "val_loss", "samples_per_second", "seconds"}
    assert all(len(values) == 3 for values in history.values())
    assert np.all(np.isfinite(history["val_loss"]))
    assert vae.t_ == 3 * 8  # 160 training rows in minibatches of 20


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_gaussian_decoder(rng, scale):
    centers = rng.random((3, 10))
    X = centers[rng.integers(3, size=300)] + 0.05 * rng.normal(size=(300, 10))
    X = np.clip(X, 0, 1) * scale
    vae = VAE(
        **{**SMALL, "batch_size": 30},
        likelihood="gaussian",
        max_epochs=20,
        learning_rate=1e-2,
        random_state=0,
    ).fit(X)
    assert vae.sigmoid_mean_ == (scale == 1.0)
    assert vae.variance_.shape == (10,)
    floor = vae.var_floor_ * (1.0 if vae.scale_ is None else vae.scale_**2)
    assert np.all(vae.variance_ > floor)
    losses = vae.history_["train_loss"]
    assert losses[-1] < losses[0] - 3.0
    means = vae.reconstruct(X[:50])
    assert np.mean((means - X[:50]) ** 2) < np.var(X[:50], axis=0).mean()


def test_float64_and_tanh_adagrad(rng):
    X = binary_data(rng)
    vae = VAE(
        **{**SMALL, "activation": "tanh"},
        optimizer="adagrad",
        learning_rate=0.05,
        dtype=np.float64,
        max_epochs=4,
        random_state=0,
    ).fit(X)
    assert vae.coefs_[0].dtype == np.float64
    losses = vae.history_["train_loss"]
    assert losses[-1] < losses[0]


def test_decoder_layers_are_separate(rng):
    X = binary_data(rng)
    vae = VAE(
        **{**SMALL, "hidden_layer_sizes": (10, 8)},
        decoder_layer_sizes=(6,),
        max_epochs=1,
        random_state=0,
    ).fit(X)
    assert [w.shape for w in vae.coefs_] == [(12, 10), (10, 8), (8, 4), (2, 6), (6, 12)]
    mirrored = VAE(
        **{**SMALL, "hidden_layer_sizes": (10, 8)}, max_epochs=1, random_state=0
    ).fit(X)
    assert [w.shape for w in mirrored.coefs_][3:] == [(2, 8), (8, 10), (10, 12)]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X: np.where(X == 1, np.nan, X), "NaN"),
        (lambda X: np.where(X == 1, np.inf, X), "infinity"),
        (lambda X: X * 2, r"needs data in \[0, 1\]"),
        (lambda X: X - 0.5, r"needs data in \[0, 1\]"),
        (lambda X: X[:0], "0 sample"),
    ],
)
def test_bad_training_data(rng, change, message):
    X = binary_data(rng)
    vae = VAE(**SMALL)
    with pytest.raises(ValueError, match=message):
        vae.fit(change(X))
    assert not hasattr(vae, "coefs_") or not hasattr(vae, "_state")
    with pytest.raises(ValueError, match=message):
        vae.partial_fit(change(X))


def test_bad_inference_data(rng):
    X = binary_data(rng)
    vae = VAE(**SMALL, max_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="12 features"):
        vae.transform(X[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        vae.score_samples(np.where(X == 1, np.nan, X))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.score(X * 3)
    with pytest.raises(ValueError, match="n_latent=2"):
        vae.decode(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="12 features"):
        vae.partial_fit(X[:, :5])
    with pytest.raises(ValueError, match="validation_fraction"):
        VAE(**SMALL, validation_fraction=0.001).fit(X)


def test_divergence_keeps_the_model_of_before_the_call(rng):
    """Whichever epoch diverges, the model is the one from before the failing call."""
    X = binary_data(rng)
    vae = VAE(**SMALL, random_state=0).partial_fit(X)
    vae.set_params(learning_rate=1e6)
    for _ in range(20):
        before = pickle.dumps(vae)
        coefs = [w.copy() for w in vae.coefs_]
        epochs, steps = vae.n_epochs_, vae.t_
        history = {key: list(values) for key, values in vae.history_.items()}
        try:
            vae.partial_fit(X)
        except DivergenceError as caught:
            error = caught
            break
    else:
        pytest.fail("no divergence in 20 epochs at learning_rate=1e6")
    assert isinstance(error, FloatingPointError)
    assert "diverged" in str(error)
    assert f"left as it was ({epochs} epochs trained)" in str(error)
    # the model is usable and exactly the one from before the failing call
    assert pickle.dumps(vae) == before
    for a, b in zip(coefs, vae.coefs_):
        assert_array_equal(a, b)
    assert (vae.n_epochs_, vae.t_) == (epochs, steps)
    assert vae.history_ == history
    assert np.isfinite(vae.score(X))


def test_divergence_in_a_second_fit_keeps_the_first_model(rng):
    X = binary_data(rng)
    vae = VAE(**SMALL, max_epochs=2, random_state=0).fit(X)
    vae.set_params(learning_rate=1e6, max_epochs=20)
    before = pickle.dumps(vae)
    with pytest.raises(DivergenceError, match=r"left as it was \(2 epochs trained\)"):
        vae.fit(X)
    assert pickle.dumps(vae) == before
    assert vae.n_epochs_ == 2 and len(vae.history_["train_loss"]) == 2


def test_progress_line_without_tqdm(rng, capsys, monkeypatch):
    X = binary_data(rng)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails
    VAE(**{**SMALL, "verbose": True}, max_epochs=2, random_state=0).fit(X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2: -ELBO ") and "samples/s" in lines[0]
