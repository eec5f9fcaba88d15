"""Missing values: marginalising them out against imputing column means first.

Rows drawn from three correlated Gaussian components in 5-D lose entries
completely at random (10 % to 50 %). Two ways to fit a mixture to them:

- impute first: replace each NaN by its column's mean, then fit scikit-learn
  style (what every other mixture library asks users to do);
- marginalise: ``GaussianMixture(missing="marginalize")``, exact EM for
  incomplete data; ``impute`` then fills each hole with its conditional
  expectation under the fitted mixture.

For each fraction the script reports the error of the fitted means, the RMSE
of the imputed entries against the hidden truth, and the mean log-likelihood of
held-out complete rows, and draws the imputed rows of one pair of features.

    python examples/missing_values.py [--out DIR] [--quick]
"""

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from emfast import GaussianMixture  # noqa: E402

FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5]
SHOWN = 0.3  # the fraction whose imputed rows are drawn
MEANS = np.array(
    [[0.0, 0.0, 0.0, 0.0, 0.0], [4.0, 4.0, 0.0, 2.0, -2.0], [-3.0, 4.0, 3.0, -2.0, 0.0]]
)


def simulate(rng, n_samples):
    """Rows of three components with strongly correlated features."""
    n_components, n_features = MEANS.shape
    covariances = []
    for _ in range(n_components):
        loading = rng.normal(size=(n_features, 2))  # two shared factors
        covariances.append(loading @ loading.T + 0.2 * np.eye(n_features))
    labels = rng.integers(n_components, size=n_samples)
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        rows = labels == k
        X[rows] = rng.multivariate_normal(MEANS[k], covariances[k], rows.sum())
    return X, labels


def hide(rng, X, fraction):
    """NaN at random entries, at least one value kept in every row."""
    hidden = rng.random(X.shape) < fraction
    full = hidden.all(axis=1)
    hidden[full, rng.integers(X.shape[1], size=full.sum())] = False
    return np.where(hidden, np.nan, X)


def means_error(fitted):
    """Root mean square error of the fitted means, components matched."""
    cost = ((fitted[:, None, :] - MEANS[None]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].sum() / MEANS.size))


def compare(rng, X, X_test, fraction, n_init):
    """Both fits on the same holes: their metrics and imputed rows."""
    X_nan = hide(rng, X, fraction)
    hidden = np.isnan(X_nan)
    X_filled = np.where(hidden, np.nanmean(X_nan, axis=0), X_nan)
    options = dict(n_components=3, n_init=n_init, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        imputed_first = GaussianMixture(**options).fit(X_filled)
        marginal = GaussianMixture(missing="marginalize", **options).fit(X_nan)
    X_model = marginal.impute(X_nan)

    def rmse(X_imputed):
        return float(np.sqrt(np.mean((X_imputed[hidden] - X[hidden]) ** 2)))

    metrics = {
        "impute first": (
            means_error(imputed_first.means_),
            rmse(X_filled),
            imputed_first.score(X_test),
        ),
        "marginalise": (
            means_error(marginal.means_),
            rmse(X_model),
            marginal.score(X_test),
        ),
    }
    return metrics, X_nan, X_filled, X_model


def main():
    args = parse_args(__doc__.splitlines()[0])
    rng = np.random.default_rng(7)
    n_samples = 1500 if args.quick else 6000
    X_all, labels_all = simulate(rng, 2 * n_samples)
    X, X_test = X_all[:n_samples], X_all[n_samples:]  # held-out rows: complete
    labels = labels_all[:n_samples]
    n_init = 1 if args.quick else 3

    results, shown = {}, None
    print(f"{n_samples} rows, 5 features, 3 components; held-out: {n_samples} rows")
    print(
        f"{'missing':>8} {'method':>13} {'means RMSE':>11} {'impute RMSE':>12} "
        f"{'held-out log-lik':>17}"
    )
    for fraction in FRACTIONS:
        metrics, *rows = compare(rng, X, X_test, fraction, n_init)
        results[fraction] = metrics
        if fraction == SHOWN:
            shown = rows
        for method, (mean_err, impute_err, log_lik) in metrics.items():
            print(
                f"{fraction:>8.0%} {method:>13} {mean_err:>11.3f} "
                f"{impute_err:>12.3f} {log_lik:>17.3f}"
            )

    figure = plt.figure(figsize=(13, 8))
    grid = figure.add_gridspec(2, 3, hspace=0.35, wspace=0.28)
    X_nan, X_filled, X_model = shown
    one_hidden = np.isnan(X_nan[:, :2]).sum(axis=1) == 1  # exactly one of the pair
    colours = np.array(["tab:blue", "tab:orange", "tab:green"])[labels]
    for column, (title, rows) in enumerate(
        [
            ("truth", X),
            ("column means filled in", X_filled),
            ("imputed by the fitted mixture", X_model),
        ]
    ):
        ax = figure.add_subplot(grid[0, column])
        ax.scatter(*X[~one_hidden, :2].T, s=3, c="0.8", lw=0)
        ax.scatter(*rows[one_hidden, :2].T, s=5, c=colours[one_hidden], lw=0)
        ax.set_title(f"{title} ({SHOWN:.0%} missing)", fontsize=10)
        ax.set_xlabel("feature 0")
        ax.set_ylabel("feature 1")
        ax.set_xlim(X[:, 0].min() - 1, X[:, 0].max() + 1)
        ax.set_ylim(X[:, 1].min() - 1, X[:, 1].max() + 1)
    panels = [
        "RMSE of the fitted means",
        "RMSE of the imputed entries",
        "mean log-likelihood, held-out rows",
    ]
    for column, label in enumerate(panels):
        ax = figure.add_subplot(grid[1, column])
        for method, style in [("impute first", "s--"), ("marginalise", "o-")]:
            values = [results[f][method][column] for f in FRACTIONS]
            ax.plot([100 * f for f in FRACTIONS], values, style, label=method)
        ax.set_xlabel("entries missing (%)")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=9)
    figure.suptitle(
        "Rows with a hidden coordinate (coloured by component; grey: "
        "rows with both shown features observed or both hidden)",
        fontsize=11,
    )
    save(figure, args.out, "missing_values")


if __name__ == "__main__":
    main()
