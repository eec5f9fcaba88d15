"""The VAE refuses what it cannot honour: invalid parameters (no silent
coercion), bad rows on every method, changed architectures between partial_fit
calls; and a failed or interrupted fit leaves the estimator exactly as it was."""

import pickle

import numpy as np
import pytest
import scipy.sparse
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from emfast.vae import VAE, DivergenceError, _training

SMALL = dict(n_latent=2, hidden_layer_sizes=(16,), batch_size=20, verbose=False)


def binary_data(rng, n_samples=200, n_features=12):
    return (rng.random((n_samples, n_features)) < 0.3).astype(np.float32)


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize("name", ["hidden_layer_sizes", "decoder_layer_sizes"])
@pytest.mark.parametrize(
    "value",
    [(2.7,), (8.0,), (True,), (0,), (8, -1), 2.5, 0, "ab", ((8,),), (None,)],
    ids=repr,
)
def test_layer_sizes_must_be_positive_integers(rng, name, value):
    """(2.7,) used to become a layer of width 2."""
    vae = VAE(**{**SMALL, name: value})
    with pytest.raises(ValueError, match=rf"'{name}' parameter of VAE must be"):
        vae.fit(binary_data(rng))
    assert not hasattr(vae, "n_features_in_")
    with pytest.raises(TypeError, match=rf"'{name}' parameter of VAE must be"):
        VAE(**{**SMALL, name: value}).partial_fit(binary_data(rng))


@pytest.mark.parametrize(
    "value, widths",
    [
        (8, [(12, 8), (8, 4), (2, 8), (8, 12)]),
        ([8, 6], [(12, 8), (8, 6), (6, 4), (2, 6), (6, 8), (8, 12)]),
        (np.array([8]), [(12, 8), (8, 4), (2, 8), (8, 12)]),
        ((np.int32(5),), [(12, 5), (5, 4), (2, 5), (5, 12)]),
        ((), [(12, 4), (2, 12)]),
    ],
    ids=["int", "list", "ndarray", "numpy-int", "empty"],
)
def test_layer_sizes_accept_integer_sequences(rng, value, widths):
    vae = VAE(**{**SMALL, "hidden_layer_sizes": value}, max_epochs=1, random_state=0)
    assert [w.shape for w in vae.fit(binary_data(rng)).coefs_] == widths


@pytest.mark.parametrize("value", [None, "float16", int, "garbage", np.complex64])
def test_dtype_must_be_float32_or_float64(rng, value):
    """dtype=None used to train in float64 silently."""
    with pytest.raises(ValueError, match="'dtype' parameter of VAE must be"):
        VAE(**SMALL, dtype=value).fit(binary_data(rng))


@pytest.mark.parametrize("value", ["float64", np.float64, np.dtype("float64")])
def test_dtype_spellings(rng, value):
    vae = VAE(**SMALL, dtype=value, max_epochs=1, random_state=0).fit(binary_data(rng))
    assert vae.coefs_[0].dtype == np.float64


def test_partial_fit_validates_parameters_on_every_call(rng):
    X = binary_data(rng)
    vae = VAE(**SMALL, random_state=0).partial_fit(X)
    before = pickle.dumps(vae)
    for name, value in [
        ("learning_rate", -1.0),
        ("batch_size", 2.5),
        ("hidden_layer_sizes", (2.7,)),
    ]:
        vae.set_params(**{name: value})
        with pytest.raises(ValueError, match=f"'{name}' parameter of VAE"):
            vae.partial_fit(X)
        vae.set_params(**{name: VAE(**SMALL).get_params()[name]})
        assert pickle.dumps(vae) == before


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_latent", 3),
        ("hidden_layer_sizes", (8,)),
        ("decoder_layer_sizes", (16, 4)),
        ("activation", "tanh"),
        ("likelihood", "gaussian"),
        ("optimizer", "adagrad"),
        ("dtype", np.float64),
    ],
)
def test_partial_fit_refuses_a_changed_architecture(rng, name, value):
    """Such changes used to be ignored (or, for the optimiser, to reinterpret
    Adam's moments as Adagrad's sums of squares)."""
    X = binary_data(rng)
    vae = VAE(**SMALL, random_state=0).partial_fit(X)
    reference = pickle.loads(pickle.dumps(vae))
    vae.set_params(**{name: value})
    with pytest.raises(ValueError, match=f"partial_fit cannot change {name}"):
        vae.partial_fit(X)
    # inference keeps using the fitted network, whatever the parameters say
    assert_array_equal(vae.transform(X), reference.transform(X))
    assert_array_equal(vae.score_samples(X), reference.score_samples(X))
    Z = np.zeros((3, 2))
    assert_array_equal(vae.decode(Z), reference.decode(Z))
    # fit starts afresh with the new parameters
    vae.set_params(max_epochs=1).fit(X)
    assert vae.n_epochs_ == 1


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda vae: vae.sample(2.7), TypeError, "n_samples must be an int >= 1"),
        (lambda vae: vae.sample(True), TypeError, "n_samples must be an int >= 1"),
        (lambda vae: vae.sample(0), ValueError, "n_samples must be an int >= 1"),
        (
            lambda vae: vae.log_likelihood(np.zeros((2, 12)), n_importance=2.7),
            TypeError,
            "n_importance must be an int >= 1",
        ),
        (
            lambda vae: vae.log_likelihood(np.zeros((2, 12)), n_importance=0),
            ValueError,
            "n_importance must be an int >= 1",
        ),
    ],
)
def test_counts_must_be_integers(rng, call, error, message):
    """n_importance=2.7 used to run with 2 samples."""
    vae = VAE(**SMALL, max_epochs=1, random_state=0).fit(binary_data(rng))
    with pytest.raises(error, match=message):
        call(vae)
    assert vae.sample(np.int64(2)).shape == (2, 12)


# ------------------------------------------------------------------ rows

BAD_ROWS = {
    "1-D": (lambda X: X[0], ValueError, "Expected 2D array"),
    "3-D": (lambda X: X[None], ValueError, "dim 3"),
    "empty": (lambda X: X[:0], ValueError, "0 sample"),
    "no features": (lambda X: X[:, :0], ValueError, "0 feature"),
    "NaN": (lambda X: np.where(X == 1, np.nan, X), ValueError, "NaN"),
    "inf": (lambda X: np.where(X == 1, -np.inf, X), ValueError, "infinity"),
    "complex": (lambda X: X.astype(complex), ValueError, "Complex data"),
    "strings": (lambda X: X.astype(str), ValueError, "arrays of bytes/strings"),
    "sparse": (scipy.sparse.csr_matrix, TypeError, "Sparse data"),
    "features": (lambda X: X[:, :5], ValueError, "5 features, but VAE is expecting 12"),
    "range": (lambda X: X * 2, ValueError, r"needs data in \[0, 1\]"),
}
METHODS = {
    "transform": lambda vae, X: vae.transform(X),
    "reconstruct": lambda vae, X: vae.reconstruct(X),
    "score_samples": lambda vae, X: vae.score_samples(X),
    "score": lambda vae, X: vae.score(X),
    "log_likelihood": lambda vae, X: vae.log_likelihood(X, n_importance=3),
    "partial_fit": lambda vae, X: vae.partial_fit(X),
}


@pytest.fixture(scope="module")
def fitted():
    X = binary_data(np.random.default_rng(0))
    return X, VAE(**SMALL, max_epochs=1, random_state=0).fit(X)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_rows_raise_on_every_method(fitted, method, case):
    X, vae = fitted
    change, error, message = BAD_ROWS[case]
    before = pickle.dumps(vae)
    with pytest.raises(error, match=message):
        METHODS[method](vae, change(X))
    assert pickle.dumps(vae) == before


@pytest.mark.parametrize("case", [c for c in BAD_ROWS if c != "features"])
def test_bad_rows_raise_in_fit(rng, case):
    change, error, message = BAD_ROWS[case]
    vae = VAE(**SMALL)
    with pytest.raises(error, match=message):
        vae.fit(change(binary_data(rng)))
    assert vars(vae) == vars(VAE(**SMALL))  # nothing learned


@pytest.mark.parametrize(
    "Z, message",
    [
        (np.zeros(2), "Expected 2D array"),
        (np.zeros((0, 2)), "0 sample"),
        (np.zeros((3, 5)), "n_latent=2"),
        (np.full((2, 2), np.nan), "NaN"),
        (np.zeros((2, 2), dtype=complex), "Complex data"),
    ],
)
def test_bad_latent_rows_raise_in_decode(fitted, Z, message):
    with pytest.raises(ValueError, match=message):
        fitted[1].decode(Z)


def test_lists_and_integers_are_read_as_float64(rng):
    """They used to be converted to float32 before standardisation: integer
    counts near 2**24 lost their last digits."""
    counts = 2**24 + rng.integers(0, 50, size=(100, 3))
    params = dict(SMALL, likelihood="gaussian", max_epochs=1, random_state=0)
    from_ints = VAE(**params).fit(counts)
    from_list = VAE(**params).fit(counts.tolist())
    from_floats = VAE(**params).fit(counts.astype(np.float64))
    assert_array_equal(from_ints.mean_, counts.mean(axis=0))
    for model in (from_list, from_floats):
        assert_array_equal(model.coefs_[0], from_ints.coefs_[0])
    assert_array_equal(from_ints.score_samples(counts), from_list.score_samples(counts))


def test_integer_and_boolean_images_train_like_floats(rng):
    X = binary_data(rng)
    params = dict(SMALL, max_epochs=1, random_state=0)
    reference = VAE(**params).fit(X)
    for data in (X.astype(np.uint8), X.astype(bool), X.tolist()):
        model = VAE(**params).fit(data)
        assert_array_equal(model.coefs_[0], reference.coefs_[0])
        assert_array_equal(model.score_samples(data), reference.score_samples(X))


def test_fewer_training_rows_than_a_minibatch(rng):
    """Minibatches are clipped to the training rows (as in scikit-learn's MLP):
    the fit is the fit with batch_size set to the number of rows. These used
    to raise."""
    X = binary_data(rng, n_samples=30)
    params = dict(SMALL, max_epochs=3, random_state=0)
    # fit: 15 training rows (validation_fraction=0.5) for a batch of 20
    clipped = VAE(**params, validation_fraction=0.5).fit(X)
    exact = VAE(**{**params, "batch_size": 15}, validation_fraction=0.5).fit(X)
    assert clipped.t_ == 3  # one minibatch per epoch
    for got, want in zip(clipped.coefs_, exact.coefs_):
        assert_array_equal(got, want)
    assert clipped.history_["val_loss"] == exact.history_["val_loss"]
    # partial_fit: 30 rows for a batch of 40, then 7 rows
    clipped = VAE(**{**params, "batch_size": 40}).partial_fit(X)
    exact = VAE(**{**params, "batch_size": 30}).partial_fit(X)
    clipped.partial_fit(X[:7])
    exact.set_params(batch_size=7).partial_fit(X[:7])
    assert clipped.t_ == exact.t_ == 2
    assert_array_equal(clipped.score_samples(X), exact.score_samples(X))
    # a single row trains too
    assert VAE(**params).fit(X[:1]).n_epochs_ == 3


@pytest.mark.parametrize(
    "n_samples, fraction, message",
    [
        (1, 0.2, "leaves no validation rows out of n_samples=1"),
        (3, 0.9, "leaves no training rows out of n_samples=3"),
    ],
)
def test_validation_split_keeps_rows_on_both_sides(rng, n_samples, fraction, message):
    X = binary_data(rng, n_samples=n_samples)
    vae = VAE(**SMALL, validation_fraction=fraction)
    with pytest.raises(ValueError, match=message):
        vae.fit(X)
    assert not hasattr(vae, "n_features_in_")


# ------------------------------------------------------------ failed calls


def fail_in_kernel_call(monkeypatch, kind, call_index):
    """Make the ``call_index``-th call of the training kernel (0-based) fail.

    ``"divergence"``: the kernel runs (updating the parameters) and then reports
    a NaN loss at its first step; ``"interrupt"``: it raises KeyboardInterrupt
    (Ctrl-C) after updating the parameters.
    """
    real = _training.train_steps
    calls = []

    def train_steps(*args):
        n_done = real(*args)
        calls.append(n_done)
        if len(calls) - 1 == call_index:
            if kind == "interrupt":
                raise KeyboardInterrupt
            step_losses = args[-1]
            step_losses[0] = np.nan
            return 0
        return n_done

    monkeypatch.setattr(_training, "train_steps", train_steps)
    return calls


def snapshot(vae):
    return dict(
        pickled=pickle.dumps(vae),
        coefs=[w.copy() for w in vae.coefs_],
        intercepts=[b.copy() for b in vae.intercepts_],
        history={key: list(values) for key, values in vae.history_.items()},
        epochs=vae.n_epochs_,
        steps=vae.t_,
    )


def assert_unchanged(vae, before):
    for a, b in zip(
        before["coefs"] + before["intercepts"], vae.coefs_ + vae.intercepts_
    ):
        assert_array_equal(a, b)
    assert vae.history_ == before["history"]
    assert (vae.n_epochs_, vae.t_) == (before["epochs"], before["steps"])
    assert pickle.dumps(vae) == before["pickled"]  # everything else too


def assert_same_training(one, other):
    """Same parameters, optimiser state, losses and generator (timings differ)."""
    for a, b in zip(one.coefs_ + one.intercepts_, other.coefs_ + other.intercepts_):
        assert_array_equal(a, b)
    assert_array_equal(one._state.state1, other._state.state1)
    assert one.history_["train_loss"] == other.history_["train_loss"]
    assert (one.n_epochs_, one.t_) == (other.n_epochs_, other.t_)
    assert str(one._random_state.get_state()) == str(other._random_state.get_state())


ERRORS = {"divergence": DivergenceError, "interrupt": KeyboardInterrupt}


@pytest.mark.parametrize("kind", ["divergence", "interrupt"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("call_index", [0, 2])
def test_failed_second_fit_keeps_the_first_model(
    rng, monkeypatch, kind, likelihood, call_index
):
    """A failing fit used to leave a fresh, partly trained model (n_epochs_ 0)."""
    X = binary_data(rng) if likelihood == "bernoulli" else rng.normal(size=(200, 12))
    params = dict(SMALL, likelihood=likelihood, max_epochs=2, random_state=0)
    vae = VAE(**params).fit(X)
    twin = pickle.loads(pickle.dumps(vae))
    vae.set_params(max_epochs=4, random_state=1)
    twin.set_params(max_epochs=4, random_state=1)
    before = snapshot(vae)
    calls = fail_in_kernel_call(monkeypatch, kind, call_index)
    with pytest.raises(ERRORS[kind]) as caught:
        # new Gaussian data would also give a new scaling
        vae.fit(X if likelihood == "bernoulli" else X * 3 + 1)
    assert len(calls) == call_index + 1  # the failure came in epoch call_index + 1
    if kind == "divergence":
        assert "the model is left as it was (2 epochs trained)" in str(caught.value)
    assert_unchanged(vae, before)
    # the model goes on as if the failed call had never been made
    monkeypatch.undo()
    assert_same_training(vae.partial_fit(X), twin.partial_fit(X))


@pytest.mark.parametrize("kind", ["divergence", "interrupt"])
def test_failed_partial_fit_keeps_the_model(rng, monkeypatch, kind):
    X = binary_data(rng, n_samples=600)  # 30 minibatches: two kernel calls
    vae = VAE(**SMALL, random_state=0).partial_fit(X).partial_fit(X)
    twin = pickle.loads(pickle.dumps(vae))
    before = snapshot(vae)
    fail_in_kernel_call(monkeypatch, kind, 1)  # after 25 updated minibatches
    with pytest.raises(ERRORS[kind]):
        vae.partial_fit(X)
    assert_unchanged(vae, before)
    monkeypatch.undo()
    assert_same_training(vae.partial_fit(X), twin.partial_fit(X))


@pytest.mark.parametrize("kind", ["divergence", "interrupt"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_failed_first_fit_leaves_the_estimator_unfitted(rng, monkeypatch, kind, method):
    X = binary_data(rng)
    vae = VAE(**SMALL, max_epochs=3, random_state=0)
    fail_in_kernel_call(monkeypatch, kind, 0)
    with pytest.raises(ERRORS[kind]) as caught:
        getattr(vae, method)(X)
    if kind == "divergence":
        assert "the estimator stays unfitted" in str(caught.value)
    assert vars(vae) == vars(VAE(**SMALL, max_epochs=3, random_state=0))
    with pytest.raises(NotFittedError):
        vae.transform(X)
