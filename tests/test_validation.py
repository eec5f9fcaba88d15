"""Bad input gets scikit-learn's error (same type, same message), never a crash.

Each case runs on emfast and on scikit-learn; the exceptions must match.
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from emfast import GaussianMixture

GOOD = np.random.RandomState(0).normal(size=(20, 3))


def _with(value, row=3, col=1):
    X = GOOD.copy()
    X[row, col] = value
    return X


BAD_DATA = {
    "nan": _with(np.nan),
    "inf": _with(np.inf),
    "-inf": _with(-np.inf),
    "1-d": GOOD[:, 0],
    "3-d": GOOD.reshape(20, 3, 1),
    "empty rows": np.empty((0, 3)),
    "no features": np.empty((20, 0)),
    "one row": GOOD[:1],
    "strings": np.array([["a", "b"], ["c", "d"], ["e", "f"]]),
    "complex": GOOD + 1j,
    "object with None": np.array([[1.0, None], [2.0, 3.0], [4.0, 5.0]], dtype=object),
    "scalar": 3.0,
}

BAD_PARAMS = {
    "n_components=0": dict(n_components=0),
    "n_components=2.5": dict(n_components=2.5),
    "covariance_type": dict(covariance_type="banana"),
    "tol<0": dict(tol=-1.0),
    "reg_covar<0": dict(reg_covar=-1e-3),
    "max_iter<0": dict(max_iter=-1),
    "n_init=0": dict(n_init=0),
    "init_params": dict(init_params="kmeans+++"),
    "random_state": dict(random_state="seed"),
    "warm_start": dict(warm_start="yes"),
    "verbose_interval=0": dict(verbose_interval=0),
    "more components than samples": dict(n_components=21),
    "weights_init shape": dict(n_components=2, weights_init=[0.2, 0.3, 0.5]),
    "weights_init range": dict(n_components=2, weights_init=[1.5, -0.5]),
    "weights_init sum": dict(n_components=2, weights_init=[0.2, 0.3]),
    "means_init shape": dict(n_components=2, means_init=np.zeros((2, 4))),
    "means_init nan": dict(n_components=2, means_init=[[0, 0, np.nan], [1, 1, 1]]),
    "precisions_init shape": dict(n_components=2, precisions_init=np.ones((3, 3, 3))),
    "precisions_init not spd": dict(
        n_components=2, precisions_init=np.array([np.eye(3), -np.eye(3)])
    ),
    "diag precisions_init <= 0": dict(
        n_components=2, covariance_type="diag", precisions_init=-np.ones((2, 3))
    ),
    "tied precisions_init shape": dict(
        n_components=2, covariance_type="tied", precisions_init=np.eye(2)
    ),
    "spherical precisions_init": dict(
        n_components=2, covariance_type="spherical", precisions_init=[1.0, -1.0]
    ),
}


def _error_of(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except Exception as error:  # noqa: BLE001 - we compare whatever is raised
            return error
    return None


def _message(error):
    """The message with set displays sorted (their order follows string hashes)."""
    return re.sub(
        r"\{([^{}]*)\}",
        lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}",
        str(error),
    )


def _assert_same_error(ours, theirs):
    assert theirs is not None, "scikit-learn accepts this case"
    assert ours is not None, f"emfast accepted it; scikit-learn raised {theirs!r}"
    assert type(ours) is type(theirs)
    assert _message(ours) == _message(theirs)


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_in_fit(case):
    X = BAD_DATA[case]
    ours = _error_of(lambda: GaussianMixture(2).fit(X))
    theirs = _error_of(lambda: SkGaussianMixture(2).fit(X))
    _assert_same_error(ours, theirs)
    assert isinstance(ours, (ValueError, TypeError))


@pytest.mark.parametrize("case", BAD_PARAMS)
def test_bad_parameters(case):
    params = BAD_PARAMS[case]
    ours = _error_of(lambda: GaussianMixture(**params).fit(GOOD))
    theirs = _error_of(lambda: SkGaussianMixture(**params).fit(GOOD))
    _assert_same_error(ours, theirs)
    assert isinstance(ours, (ValueError, TypeError))


@pytest.mark.parametrize("case", BAD_DATA)
@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score"]
)
def test_bad_data_after_fit(case, method):
    if case in ("one row", "no features"):
        pytest.skip("valid (one row) or a feature-count case tested below")
    X = BAD_DATA[case]
    ours = _error_of(lambda: getattr(GaussianMixture(2).fit(GOOD), method)(X))
    theirs = _error_of(lambda: getattr(SkGaussianMixture(2).fit(GOOD), method)(X))
    assert ours is not None
    # scikit-learn does not force a float dtype at predict time, so strings
    # and objects fail differently there; both are ValueErrors naming the data
    assert type(ours) is type(theirs)
    if case not in ("strings", "object with None"):
        assert str(ours) == str(theirs)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"]
)
def test_wrong_number_of_features(method):
    gm = GaussianMixture(2).fit(GOOD)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "X has 4 features, but GaussianMixture is expecting 3 features"
        ),
    ):
        getattr(gm, method)(np.ones((5, 4)))


@pytest.mark.parametrize(
    "method",
    ["predict", "predict_proba", "score_samples", "score", "sample", "bic", "aic"],
)
def test_not_fitted(method):
    argument = 1 if method == "sample" else GOOD
    with pytest.raises(
        NotFittedError, match="This GaussianMixture instance is not fitted yet"
    ):
        getattr(GaussianMixture(2), method)(argument)


def test_sample_needs_one_sample():
    gm = GaussianMixture(2).fit(GOOD)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
        gm.sample(0)


def test_integer_and_list_input_is_converted():
    X = np.arange(40).reshape(20, 2) % 7
    gm = GaussianMixture(2, random_state=0).fit(X.tolist())
    assert gm.means_.dtype == np.float64
    sk = SkGaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-8)
    np.testing.assert_array_equal(gm.predict(X), sk.predict(X))


def test_duplicate_points_are_regularised_without_nan():
    """Identical rows: reg_covar keeps the covariances positive, as in sklearn."""
    X = np.repeat(np.array([[1.0, 2.0], [5.0, 5.0]]), 10, axis=0)
    for covariance_type in ("full", "tied", "diag", "spherical"):
        gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
        gm.fit(X)
        assert np.all(np.isfinite(gm.precisions_cholesky_))
        assert np.all(np.isfinite(gm.predict_proba(X)))
        assert np.all(np.isfinite(gm.score_samples(X)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_points_beyond_overflow_get_limit_posteriors(covariance_type, dtype):
    """log p(x) underflows to -inf; posteriors go to their limit, never NaN."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) * 3 + 8])
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    gm.fit(X.astype(dtype))
    huge = 1e200 if dtype == np.float64 else 1e30  # beyond sqrt(max float)
    far = np.array([[huge, huge], [3.0, huge]], dtype=dtype)
    proba = gm.predict_proba(far)
    assert not np.isnan(proba).any()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(far), proba.argmax(axis=1))
    if dtype == np.float64:  # the broader component wins far away
        broad = (
            np.argmax(
                [
                    np.linalg.det(np.atleast_2d(c)) if c.ndim > 1 else np.prod(c)
                    for c in np.broadcast_to(
                        gm.covariances_, (2, *gm.covariances_.shape[-2:])
                    )
                ]
            )
            if covariance_type == "full"
            else None
        )
        if broad is not None:
            assert proba[0, broad] == 1.0
    assert np.all(gm.score_samples(far) <= -1e30)


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_overflowing_data_raise_a_clear_error():
    X = np.random.RandomState(0).normal(size=(30, 2)) * 1e200
    with pytest.raises(ValueError, match="overflowed"):
        GaussianMixture(2, random_state=0).fit(X)
