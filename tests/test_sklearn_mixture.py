"""scikit-learn's tests shared by both mixtures, run against emfast's estimators.

The installed ``sklearn/mixture/tests/test_mixture.py`` parametrises its tests
with estimator instances made when it is imported, so replacing the module-level
names is not enough: the ``estimator`` values of each ``parametrize`` mark are
swapped too (a scikit-learn ``GaussianMixture`` or ``BayesianGaussianMixture``
becomes emfast's, with the same parameters) before pytest collects the test
functions re-exported here.
"""

import functools

import pytest

pytest.importorskip("sklearn.mixture.tests.test_mixture")

import sklearn.mixture.tests.test_mixture as _sklearn_tests  # noqa: E402
from sklearn import mixture as _sklearn_mixture  # noqa: E402

import emfast  # noqa: E402
from emfast.mixture.bayesian import BayesianGaussianMixture  # noqa: E402

_REPLACEMENTS = {
    _sklearn_mixture.GaussianMixture: emfast.GaussianMixture,
    _sklearn_mixture.BayesianGaussianMixture: BayesianGaussianMixture,
}
_sklearn_tests.GaussianMixture = emfast.GaussianMixture
_sklearn_tests.BayesianGaussianMixture = BayesianGaussianMixture


def _swap(value):
    """emfast's estimator in place of a scikit-learn mixture instance."""
    ours = _REPLACEMENTS.get(type(value))
    return value if ours is None else ours(**value.get_params())


def _with_emfast_estimators(test):
    """A copy of ``test`` whose parametrize marks hold emfast's estimators."""

    @functools.wraps(test)
    def copy(*args, **kwargs):
        return test(*args, **kwargs)

    marks = []
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "parametrize":
            names, values = mark.args[:2]
            values = [_swap(value) for value in values]
            mark = pytest.mark.parametrize(names, values, **mark.kwargs).mark
        marks.append(mark)
    copy.pytestmark = marks
    return copy


for _name in dir(_sklearn_tests):
    if _name.startswith("test_"):
        globals()[_name] = _with_emfast_estimators(getattr(_sklearn_tests, _name))


def test_every_estimator_is_emfast():
    """The swap reached every parametrised estimator."""
    for name in dir(_sklearn_tests):
        if name.startswith("test_"):
            for mark in globals()[name].pytestmark:
                if mark.name == "parametrize":
                    for value in mark.args[1]:
                        assert type(value) not in _REPLACEMENTS, (name, value)
