"""The VAE as a scikit-learn estimator: scikit-learn's estimator checks for both
likelihoods, feature names and pandas output, and a quiet default.

The Bernoulli decoder models data in [0, 1] and refuses anything else. Its tags
say it refuses negative values (``positive_only``), and scikit-learn's checks
then shift their data to be non-negative, but scikit-learn has no tag for an
upper bound: the checks that feed values above 1 are expected to fail for that
reason only, and :func:`test_bernoulli_checks_on_data_in_the_unit_interval`
runs each of them again on its own data scaled into [0, 1].
"""

import typing
from functools import partial

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import (
    estimator_checks_generator,
    parametrize_with_checks,
)

from emfast.vae import VAE

# small networks and few epochs: the checks test the API, not the model
FAST = dict(n_latent=2, hidden_layer_sizes=(8,), batch_size=20, max_epochs=2)

ESTIMATORS = [
    VAE(likelihood="bernoulli", **FAST, random_state=0),
    VAE(likelihood="gaussian", **FAST, random_state=0),
    VAE(
        likelihood="gaussian",
        **FAST,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=1,
        dtype=np.float64,
        random_state=0,
    ),
]

ABOVE_ONE = (
    "the Bernoulli decoder refuses values above 1 (it models data in [0, 1]) "
    "and scikit-learn has no input tag for an upper bound; this check's data, "
    "shifted to be non-negative (positive_only), exceed 1"
)

# every one of them passes on its data scaled into [0, 1]
BERNOULLI_RANGE_FAILURES = {
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_estimators_dtypes",
    "check_pipeline_consistency",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1sample",
    "check_fit2d_1feature",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
}


def expected_failed_checks(estimator):
    if estimator.likelihood != "bernoulli":
        return {}
    return dict.fromkeys(BERNOULLI_RANGE_FAILURES, ABOVE_ONE)


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=expected_failed_checks, xfail_strict=True
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _into_unit_interval(enforce):
    """scikit-learn's tag-based data adjustment, then values scaled into [0, 1]."""

    def adjusted(estimator, X, X_test=None, **kwargs):
        out = enforce(estimator, X, X_test=X_test, **kwargs)
        if X_test is None:
            return _scaled(out)
        return _scaled(out[0]), _scaled(out[1])

    return adjusted


def _scaled(X):
    X = np.asarray(X)
    assert X.min() >= 0  # positive_only shifted them
    if np.issubdtype(X.dtype, np.integer):
        return np.minimum(X, 1)
    return (X / max(X.max(), 1)).astype(X.dtype, copy=False)


def _check_name(check):
    while isinstance(check, partial):
        check = check.func
    return check.__name__


def _bernoulli_range_checks():
    checks = estimator_checks_generator(ESTIMATORS[0])
    return [
        pytest.param(estimator, check, id=_check_name(check))
        for estimator, check in checks
        if _check_name(check) in BERNOULLI_RANGE_FAILURES
    ]


@pytest.mark.parametrize("estimator, check", _bernoulli_range_checks())
def test_bernoulli_checks_on_data_in_the_unit_interval(monkeypatch, estimator, check):
    """The expected failures of the Bernoulli VAE fail only by their data."""
    monkeypatch.setattr(
        estimator_checks,
        "_enforce_estimator_tags_X",
        _into_unit_interval(estimator_checks._enforce_estimator_tags_X),
    )
    check(estimator)


def test_every_bernoulli_range_failure_is_a_check():
    names = {_check_name(param.values[1]) for param in _bernoulli_range_checks()}
    assert names == set(BERNOULLI_RANGE_FAILURES)


# ------------------------------------------------------- tags and messages


def test_tags_follow_the_parameters():
    bernoulli = VAE(likelihood="bernoulli").__sklearn_tags__()
    gaussian = VAE(likelihood="gaussian", dtype=np.float64).__sklearn_tags__()
    assert bernoulli.input_tags.positive_only
    assert not gaussian.input_tags.positive_only
    assert not bernoulli.input_tags.allow_nan
    assert bernoulli.transformer_tags.preserves_dtype == ["float32"]
    assert gaussian.transformer_tags.preserves_dtype == ["float64"]
    # an invalid dtype does not break the tags; fit reports it
    assert (
        VAE(dtype="garbage").__sklearn_tags__().transformer_tags.preserves_dtype == []
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_returns_the_model_dtype(rng, dtype):
    X = rng.normal(size=(60, 4))
    vae = VAE(likelihood="gaussian", **FAST, dtype=dtype, random_state=0)
    for data in (X, X.astype(np.float32)):
        assert vae.fit_transform(data).dtype == dtype


def test_negative_bernoulli_data_message(rng):
    X = rng.random((30, 4)) - 0.5
    with pytest.raises(ValueError, match=r"^Negative values in data passed to VAE"):
        VAE(**FAST).fit(X)
    with pytest.raises(ValueError, match=r"^The Bernoulli decoder needs data in"):
        VAE(**FAST).fit(X + 1)


# -------------------------------------------------- feature names and output


def test_feature_names_out(rng):
    X = (rng.random((50, 6)) < 0.4).astype(np.float32)
    vae = VAE(**{**FAST, "n_latent": 3}, random_state=0)
    with pytest.raises(NotFittedError):
        vae.get_feature_names_out()
    vae.fit(X)
    names = vae.get_feature_names_out()
    assert names.dtype == object
    assert_array_equal(names, ["vae0", "vae1", "vae2"])
    assert_array_equal(vae.get_feature_names_out([f"x{j}" for j in range(6)]), names)
    with pytest.raises(ValueError, match="input_features should have length"):
        vae.get_feature_names_out(["a", "b"])


def test_pandas_output(rng):
    pd = pytest.importorskip("pandas")
    columns = [f"pixel{j}" for j in range(5)]
    frame = pd.DataFrame(
        (rng.random((40, 5)) < 0.5).astype(np.float32),
        columns=columns,
        index=np.arange(100, 140),
    )
    vae = VAE(**FAST, random_state=0).set_output(transform="pandas")
    codes = vae.fit_transform(frame)
    assert isinstance(codes, pd.DataFrame)
    assert list(codes.columns) == ["vae0", "vae1"]
    assert_array_equal(codes.index, frame.index)
    # the same numbers as the default output, which is unchanged by set_output
    plain = VAE(**FAST, random_state=0).fit(frame)
    assert_array_equal(codes.to_numpy(), plain.transform(frame))
    assert_array_equal(vae.feature_names_in_, columns)
    assert isinstance(vae.transform(frame.iloc[:3]), pd.DataFrame)
    # in a pipeline, the names pass from step to step
    pipeline = make_pipeline(MinMaxScaler(), VAE(**FAST, random_state=0))
    pipeline.set_output(transform="pandas")
    out = pipeline.fit_transform(frame)
    assert list(out.columns) == ["vae0", "vae1"]
    assert_array_equal(pipeline.get_feature_names_out(), ["vae0", "vae1"])


def test_quiet_by_default(rng, capsys):
    """No progress bar in a pipeline unless verbose=True asks for one."""
    X = (rng.random((40, 5)) < 0.5).astype(np.float32)
    VAE(**FAST, random_state=0).fit(X).partial_fit(X)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_public_type_hints_resolve():
    """Every public method's annotations name importable types."""
    for name in [
        "__init__",
        "fit",
        "partial_fit",
        "transform",
        "decode",
        "reconstruct",
        "sample",
        "score_samples",
        "score",
        "log_likelihood",
    ]:
        hints = typing.get_type_hints(getattr(VAE, name))
        assert "return" in hints, name
    for name in ["coefs_", "intercepts_", "variance_", "mean_", "scale_", "t_"]:
        assert "return" in typing.get_type_hints(getattr(VAE, name).fget)
    assert typing.get_type_hints(VAE.fit)["return"] is typing.Self
