"""VAE checks that scikit-learn's parameter constraints cannot express.

Layer sizes must be integers (a float width is not rounded silently), a
validation split must leave rows on both sides, the architecture of a fitted
model cannot change between ``partial_fit`` calls, an inference result that
overflowed is reported instead of returned, and a failed call leaves the model
as it was.
"""

from contextlib import contextmanager
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError

FLOAT_TYPES = (np.float32, np.float64)


def layer_sizes(value, name):
    """``value`` (an int or a sequence of ints, each >= 1) as a tuple of ints.

    Raises :class:`InvalidParameterError` (a ``ValueError`` and ``TypeError``)
    for anything else: floats, bools, strings, nested sequences, zero or
    negative widths.
    """
    sizes = (value,) if _is_int(value) else value
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = None
    if (
        sizes is None
        or isinstance(value, (str, bytes))
        or not all(_is_int(n) and n >= 1 for n in sizes)
    ):
        raise InvalidParameterError(
            f"The {name!r} parameter of VAE must be an int >= 1 or a sequence of "
            f"ints >= 1 (layer widths). Got {value!r} instead."
        )
    return tuple(int(n) for n in sizes)


def _is_int(value):
    return isinstance(value, (Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def float_dtype(value):
    """The numpy scalar type named by the ``dtype`` parameter (float32 or float64)."""
    try:
        dtype = None if value is None else np.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or dtype.type not in FLOAT_TYPES:
        raise InvalidParameterError(
            "The 'dtype' parameter of VAE must be np.float32 or np.float64. "
            f"Got {value!r} instead."
        )
    return dtype.type


def positive_int(value, name):
    """``value`` as an int, or an error naming the argument if it is not one >= 1."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def holdout_split(X, fraction, random_state):
    """``(X_train, X_val)``: a random ``fraction`` of the rows held out (or None).

    Both parts must keep at least one row.
    """
    n_samples = X.shape[0]
    n_val = int(round(fraction * n_samples))
    if fraction > 0 and n_val == 0:
        raise ValueError(
            f"validation_fraction={fraction} leaves no validation rows out of "
            f"n_samples={n_samples}"
        )
    if n_val >= n_samples:
        raise ValueError(
            f"validation_fraction={fraction} leaves no training rows out of "
            f"n_samples={n_samples}"
        )
    if n_val == 0:
        return X, None
    order = random_state.permutation(n_samples)
    return X[np.sort(order[n_val:])], X[np.sort(order[:n_val])]


def check_same_architecture(model, encoder, decoder):
    """Refuse to continue a fitted model whose structural parameters changed.

    ``partial_fit`` trains the network the model already has; silently keeping
    the old architecture (or mixing two optimisers' states) would not be what
    the parameters say.
    """
    layout = model.layout_
    fitted = {
        "n_latent": layout.n_latent,
        "hidden_layer_sizes": layout.encoder_sizes,
        "decoder_layer_sizes": layout.decoder_sizes,
        "activation": layout.activation,
        "likelihood": layout.likelihood,
        "optimizer": model.optimizer_,
        "dtype": np.dtype(model._state.theta.dtype).name,
    }
    current = {
        "n_latent": model.n_latent,
        "hidden_layer_sizes": encoder,
        "decoder_layer_sizes": decoder,
        "activation": model.activation,
        "likelihood": model.likelihood,
        "optimizer": model.optimizer,
        "dtype": np.dtype(float_dtype(model.dtype)).name,
    }
    for name, value in fitted.items():
        if current[name] != value:
            raise ValueError(
                f"partial_fit cannot change {name} of a fitted model (fitted with "
                f"{value!r}, now {current[name]!r}); call fit to train a new model."
            )


def check_finite_rows(values, what, cause):
    """Raise ``ValueError`` naming the rows of ``values`` that are not finite.

    Used on the network's inputs after conversion to the model's dtype and on
    its outputs: rows far outside the training data overflow the network, and
    NaN or -inf results for them would pass a wrong answer on silently.
    """
    finite = np.isfinite(values)
    bad = ~finite.all(axis=1) if values.ndim > 1 else ~finite
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{what} of {rows.size} of {values.shape[0]} rows (first: row "
            f"{rows[0]}) {cause}. Check these rows: are they on the scale of the "
            "training data?"
        )
    return values


@contextmanager
def unchanged_on_error(model):
    """Leave ``model`` exactly as it was if the body raises (including interrupts).

    Besides the attributes, the objects that training mutates in place are
    restored: the parameters and optimiser state, the history and the random
    generator (so that a retried call repeats what the failed one would have
    done; numpy's global generator, used with ``random_state=None``, is left
    alone).
    """
    saved = dict(model.__dict__)
    state = saved["_state"].copy() if "_state" in saved else None
    history = (
        {key: list(values) for key, values in saved["history_"].items()}
        if "history_" in saved
        else None
    )
    generator = saved.get("_random_state")
    if generator is np.random.mtrand._rand:
        generator = None  # random_state=None: numpy's global generator is not ours
    generator_state = generator.get_state() if generator is not None else None
    try:
        yield
    except BaseException:
        model.__dict__.clear()
        model.__dict__.update(saved)
        if state is not None:
            model._state = state
        if history is not None:
            model.history_ = history
        if generator is not None:
            generator.set_state(generator_state)
        raise
