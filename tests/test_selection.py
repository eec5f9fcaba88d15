"""select_n_components: the AIC/BIC table over K, the choice, the plot; any
mixture as the estimator cloned for each K."""

import itertools
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from emfast import BayesianGaussianMixture, CustomMixture, GaussianMixture
from emfast.datasets import load_wine_tutorial
from emfast.mixture.selection import (
    SelectionResult,
    SelectionTable,
    select_n_components,
)
from tests.limits import run_limited

COLUMNS = (
    "n_components",
    "covariance_type",
    "mean_log_likelihood",
    "aic",
    "bic",
    "converged",
    "n_iter",
    "seconds",
)


def _two_blobs(rng, n_samples=300, dtype=np.float64):
    """Two round clusters 12 standard deviations apart: K = 2 by BIC."""
    centers = np.array([[0.0, 0.0], [12.0, 0.0]]) + rng.normal(size=2)
    labels = rng.integers(2, size=n_samples)
    return (centers[labels] + rng.normal(size=(n_samples, 2))).astype(dtype)


def _seed(rng):
    return int(rng.integers(2**31))


@pytest.fixture(scope="module")
def wine():
    return select_n_components(
        load_wine_tutorial()[0],
        range(1, 7),
        covariance_type="full",
        random_state=0,
        n_init=3,
    )


def test_wine_tells_the_tutorial_story(wine):
    # The tutorial's story on malic acid and total phenols: a sharp drop in AIC
    # and BIC from one component to two, little after. With random_state=0,
    # n_init=3 (the demo's settings) the values are
    #   BIC 885.58 804.64 804.33 817.64 843.59 869.67
    #   AIC 869.67 769.64 750.24 744.45 751.32 758.31
    # BIC drops 81 from K=1 to K=2, then K=3 is 0.3 lower (a tie) and larger K
    # are penalised (steps up to +26); AIC drops 100, then gains at most 25 more.
    for criterion in ("bic", "aic"):
        values = wine.table_[criterion]
        drop = values[0] - values[1]
        later_gain = values[1] - values[1:].min()
        later_steps = np.abs(np.diff(values[1:]))
        assert drop > 3 * later_gain, criterion
        assert drop > 2.5 * later_steps.max(), criterion
    bic = wine.table_["bic"]
    assert bic[0] - bic[1] > 75
    assert abs(bic[1] - bic[2]) < 0.05 * (bic[0] - bic[1])  # K = 2 and 3 tie
    assert np.all(np.diff(bic[2:]) > 0)  # the penalty wins from K = 3 on
    assert wine.n_components_ in (2, 3)
    assert wine.covariance_type_ == "full"


def test_table_rows_are_the_models_own_scores(wine):
    X = load_wine_tutorial()[0]
    table = wine.table_
    assert len(table) == 6 == len(wine.estimators_)
    assert table.columns == COLUMNS
    assert_array_equal(table["n_components"], np.arange(1, 7))
    for row, model in zip(table, wine.estimators_):
        assert set(row) == set(COLUMNS)
        assert row["n_components"] == model.n_components
        assert row["mean_log_likelihood"] == model.score(X)
        assert row["aic"] == model.aic(X)
        assert row["bic"] == model.bic(X)
        assert row["converged"] is bool(model.converged_)
        assert row["n_iter"] == model.n_iter_
        assert row["seconds"] > 0
    best = int(np.argmin(table["bic"]))
    assert wine.best_index_ == table.best == best
    assert wine.best_estimator_ is wine.estimators_[best]
    assert wine.n_components_ == best + 1


def test_table_prints_aligned(wine):
    text = str(wine.table_)
    lines = text.splitlines()
    assert len(lines) == 7
    assert lines[0].split() == [
        "K",
        "covariance",
        "mean",
        "log-lik",
        "AIC",
        "BIC",
        "converged",
        "n_iter",
        "seconds",
    ]
    # right-aligned numbers: every column ends at the same place on every line
    for header in ("AIC", "BIC", "n_iter", "seconds"):
        end = lines[0].index(header) + len(header)
        for line in lines[1:]:
            assert line[end - 1] != " " and (len(line) == end or line[end] == " ")
    marked = [line for line in lines[1:] if line.startswith("*")]
    assert marked == [lines[1 + wine.best_index_]]
    assert repr(wine.table_) == text
    assert f"K = {wine.n_components_}" in str(wine)
    assert "n_components_=" in repr(wine)


def test_selects_two_of_two_clusters(rng, global_dtype):
    X = _two_blobs(rng, n_samples=200, dtype=global_dtype)
    for criterion in ("bic", "aic"):
        result = select_n_components(
            X, range(1, 4), criterion=criterion, random_state=_seed(rng)
        )
        assert isinstance(result, SelectionResult)
        # BIC finds the two clusters; AIC's lighter penalty sometimes (about one
        # draw in 20 at this size) prefers splitting one of them, never merging
        if criterion == "bic":
            assert result.n_components_ == 2
        else:
            assert result.n_components_ in (2, 3)
        assert result.best_estimator_.means_.dtype == global_dtype
        assert result.criterion == criterion


def test_several_covariance_types(rng):
    X = _two_blobs(rng, n_samples=200)
    types = ["spherical", "diag", "full"]
    result = select_n_components(
        X, [3, 1, 2], covariance_type=types, random_state=_seed(rng), max_iter=50
    )
    table = result.table_
    assert len(table) == 9
    assert list(table["covariance_type"]) == [t for t in types for _ in range(3)]
    assert list(table["n_components"]) == [1, 2, 3] * 3  # K sorted
    assert result.best_index_ == int(np.argmin(table["bic"]))
    assert result.covariance_type_ == table[result.best_index_]["covariance_type"]
    for row, model in zip(table, result.estimators_):
        assert model.covariance_type == row["covariance_type"]
        assert model.max_iter == 50


def test_single_k_and_params_passed_on(rng):
    X = _two_blobs(rng, n_samples=100)
    result = select_n_components(
        X, np.int64(2), covariance_type="diag", n_init=2, tol=1e-4, random_state=3
    )
    assert len(result.table_) == 1
    model = result.best_estimator_
    assert (model.n_components, model.covariance_type) == (2, "diag")
    assert (model.n_init, model.tol, model.random_state) == (2, 1e-4, 3)
    same = GaussianMixture(2, covariance_type="diag", n_init=2, tol=1e-4).set_params(
        random_state=3
    )
    assert_array_equal(same.fit(X).means_, model.means_)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_components=[]), ValueError, "n_components is empty"),
        (dict(n_components=range(1, 1)), ValueError, "n_components is empty"),
        (dict(n_components=range(0, 3)), ValueError, "must be >= 1, got 0"),
        (dict(n_components=-2), ValueError, "must be >= 1, got -2"),
        (dict(n_components=[1, 31]), ValueError, "<= n_samples = 30, got 31"),
        (dict(n_components=[1, 2, 2]), ValueError, "a repeated value: 2"),
        (dict(n_components=[1, 2.5]), TypeError, "must hold integers, got 2.5"),
        (dict(n_components=[True]), TypeError, "must hold integers"),
        (dict(n_components="1:3"), TypeError, "must be an int"),
        (dict(n_components=None), TypeError, "iterable of ints"),
        (dict(criterion="BICC"), ValueError, "criterion must be 'bic' or 'aic'"),
        (dict(criterion=None), ValueError, "criterion must be"),
        (dict(covariance_type="ful"), ValueError, "must be one of 'full'"),
        (dict(covariance_type=[]), ValueError, "covariance_type is empty"),
        (dict(covariance_type=["full", "full"]), ValueError, "repeated"),
        (dict(covariance_type=3), TypeError, "string or a list of strings"),
        (dict(means_init=np.zeros((2, 2))), ValueError, "means_init depend"),
        (dict(n_init=0), ValueError, "'n_init' parameter of GaussianMixture"),
        (dict(tol=-1.0), ValueError, "'tol' parameter"),
        (dict(n_component=2), TypeError, "unknown GaussianMixture parameter"),
    ],
)
def test_bad_arguments(rng, kwargs, error, match):
    X = rng.normal(size=(30, 2))
    with pytest.raises(error, match=match):
        select_n_components(X, **kwargs)


@pytest.mark.parametrize(
    "n_components, match",
    [
        (range(1, 10**9), "<= n_samples = 30, got 999999999"),
        (range(10**9, 0, -1), "<= n_samples = 30, got 1000000000"),
        (range(-(10**9), 3), ">= 1, got -1000000000"),
        (range(1, 10**12, 10**6), "<= n_samples = 30, got 999999000001"),
        (range(1, 10**22), "<= n_samples = 30, got 9999999999999999999999"),
        (itertools.count(1), "<= n_samples = 30, got 31"),
        (itertools.repeat(2), "a repeated value: 2"),
        (itertools.chain([1, 2], itertools.repeat(0.5)), "must hold integers"),
        (np.arange(1, 10**6), "<= n_samples = 30, got 31"),
    ],
)
def test_n_components_checked_before_materialising(rng, n_components, match):
    # each would be (tens of) gigabytes or endless as a list; it fails at once
    X = rng.normal(size=(30, 2))
    error = TypeError if "integers" in match else ValueError
    with pytest.raises(error, match=match):
        select_n_components(X, n_components)


def test_endless_covariance_types_fail_at_the_first_repeat(rng):
    X = rng.normal(size=(30, 2))
    with pytest.raises(ValueError, match="covariance_type has a repeated value"):
        select_n_components(X, [1], covariance_type=itertools.cycle(["full", "diag"]))


def test_huge_k_range_fails_under_a_memory_limit(tmp_path):
    # The reproducer, in a child whose address space is limited (1.5 GB): the
    # old code built list(range(1, 10**9)) (~36 GB) before checking anything.
    code = (
        "import itertools, numpy as np\n"
        "from emfast.mixture.selection import select_n_components\n"
        "X = np.random.default_rng(0).normal(size=(50, 2))\n"
        "for ks in (range(1, 10**9), itertools.count(1)):\n"
        "    try:\n"
        "        select_n_components(X, ks)\n"
        "    except ValueError as err:\n"
        "        print(err)\n"
    )
    child = run_limited(["-c", code], cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == [
        "n_components must be <= n_samples = 50, got 999999999",
        "n_components must be <= n_samples = 50, got 51",
    ]


@pytest.mark.parametrize(
    "X, match",
    [
        ([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]], "NaN"),
        ([[0.0, 1.0]], "minimum of 2 is required"),
        (np.zeros(5), "Expected 2D array"),
    ],
)
def test_bad_data(X, match):
    with pytest.raises(ValueError, match=match):
        select_n_components(X, [1])


def test_failed_fit_names_k():
    X = np.repeat([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], 4, axis=0)  # 3 points
    with pytest.raises(ValueError, match="n_components=3, covariance_type='full'"):
        select_n_components(X, [1, 3], reg_covar=0.0, random_state=0)


def test_table_access_and_errors():
    rows = [
        dict(zip(COLUMNS, (k, "tied", -1.0 * k, 10.0 - k, 12.0, k < 3, 4, 0.1)))
        for k in (1, 2, 3)
    ]
    table = SelectionTable(rows, best=1)
    assert table[1] == rows[1]
    table[1]["aic"] = 0.0  # rows are copies
    assert table[1]["aic"] == 8.0
    assert_array_equal(table["converged"], [True, True, False])
    assert table.rows == rows
    with pytest.raises(KeyError, match="no column 'AIC'"):
        table["AIC"]
    text = str(table).splitlines()
    assert text[3].split()[5] == "no" and text[1].split()[5] == "yes"
    assert text[2].startswith("* 2  tied")


def test_to_frame_without_pandas(monkeypatch, wine):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="needs pandas: pip install pandas"):
        wine.table_.to_frame()


def test_to_frame_with_pandas(wine):
    import pandas as pd  # in the test extra: a missing pandas fails, not skips

    frame = wine.table_.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == len(wine.table_)
    for key in COLUMNS:
        assert_array_equal(frame[key].to_numpy(), wine.table_[key])
    assert frame["n_components"].dtype.kind == "i"
    assert frame["converged"].dtype == bool
    assert frame["covariance_type"].tolist() == ["full"] * 6
    assert frame.iloc[wine.best_index_]["bic"] == frame["bic"].min()


def test_plot(rng):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    X = _two_blobs(rng, n_samples=100)
    result = select_n_components(
        X, range(1, 4), covariance_type=["full", "diag"], random_state=_seed(rng)
    )
    ax = Figure().subplots()
    assert result.plot(ax=ax) is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:4] == ["BIC (full)", "AIC (full)", "BIC (diag)", "AIC (diag)"]
    assert labels[4].startswith(f"chosen: K = {result.n_components_}")
    bic_full = ax.get_lines()[0]
    assert_array_equal(bic_full.get_xdata(), [1, 2, 3])
    assert_array_equal(bic_full.get_ydata(), result.table_["bic"][:3])
    assert ax.get_lines()[1].get_color() == bic_full.get_color()
    assert "number of components" in ax.get_xlabel()
    assert "criterion" in ax.get_ylabel()
    assert ax.get_legend() is not None


def test_plot_new_figure(wine):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = wine.plot()
    assert len(ax.get_lines()) == 3
    plt.close(ax.figure)


def test_plot_without_matplotlib(monkeypatch, wine):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'emfast\[plot\]'"):
        wine.plot()


# ------------------------------------------------------------- estimator=
def _von_mises_angles(rng, n_samples):
    means, kappas = np.array([-2.0, 0.5, 2.5]), np.array([6.0, 10.0, 6.0])
    labels = rng.choice(3, size=n_samples, p=[0.3, 0.4, 0.3])
    return rng.vonmises(means[labels], kappas[labels])[:, np.newaxis]


def test_estimator_is_cloned_for_each_k(rng):
    from tests.custom_families import VON_MISES

    X = _von_mises_angles(rng, 3000)
    template = CustomMixture(VON_MISES, n_components=7, random_state=_seed(rng))
    result = select_n_components(X, range(1, 6), estimator=template, n_init=2)
    assert not hasattr(template, "weights_") and template.n_components == 7
    assert result.n_components_ == 3
    assert result.covariance_type_ is None
    table = result.table_
    assert table.columns == tuple(c for c in COLUMNS if c != "covariance_type")
    for row, model in zip(table, result.estimators_):
        assert isinstance(model, CustomMixture) and model.family is VON_MISES
        assert (model.n_components, model.n_init) == (row["n_components"], 2)
        assert row["mean_log_likelihood"] == model.score(X)
        assert row["aic"] == model.aic(X)
        assert row["bic"] == model.bic(X)
    assert str(table).splitlines()[0].split()[:4] == ["K", "mean", "log-lik", "AIC"]
    assert str(result).endswith("Best by BIC: K = 3")
    assert repr(result) == "SelectionResult(criterion='bic', n_components_=3)"


def test_estimator_without_covariance_types_plots_one_pair(rng):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from tests.custom_families import EXPONENTIAL

    X = rng.exponential(np.array([0.2, 5.0])[rng.integers(2, size=500)])[:, None]
    result = select_n_components(
        X, [1, 2], estimator=CustomMixture(EXPONENTIAL, random_state=_seed(rng))
    )
    ax = result.plot(ax=Figure().subplots())
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["BIC", "AIC", f"chosen: K = {result.n_components_} (BIC)"]


def test_estimators_with_covariance_types_keep_them(rng):
    X = _two_blobs(rng, n_samples=200)
    own = select_n_components(
        X, [1, 2], estimator=GaussianMixture(covariance_type="diag", reg_covar=1e-3)
    )
    assert list(own.table_["covariance_type"]) == ["diag", "diag"]
    assert {m.reg_covar for m in own.estimators_} == {1e-3}
    several = select_n_components(
        X,
        [1, 2],
        covariance_type=["spherical", "full"],
        estimator=BayesianGaussianMixture(max_iter=200),
        random_state=_seed(rng),
    )
    assert list(several.table_["covariance_type"]) == ["spherical"] * 2 + ["full"] * 2
    assert all(isinstance(m, BayesianGaussianMixture) for m in several.estimators_)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(covariance_type="full"), TypeError, "not a parameter of CustomMixture"),
        (dict(n_componets=2), TypeError, "unknown CustomMixture parameter"),
        (dict(max_iter=-1), ValueError, "'max_iter' parameter of CustomMixture"),
        (dict(estimator=PCA()), TypeError, "estimator must be a mixture"),
        (dict(estimator=KMeans()), TypeError, "n_components parameter"),
        (
            dict(estimator=GaussianMixture(means_init=np.zeros((2, 1)))),
            ValueError,
            "means_init depend",
        ),
    ],
)
def test_bad_estimator_arguments(rng, kwargs, error, match):
    from tests.custom_families import EXPONENTIAL

    X = rng.exponential(size=(30, 1))
    kwargs = {"estimator": CustomMixture(EXPONENTIAL), **kwargs}
    with pytest.raises(error, match=match):
        select_n_components(X, [1, 2], **kwargs)
