"""Small data sets for the demos and examples."""

import numpy as np

WINE_COLUMNS = ("malic_acid", "total_phenols")


def load_wine_tutorial():
    """The two wine measurements of the EM tutorial: malic acid and total phenols.

    178 Italian wines from three cultivars (scikit-learn's ``load_wine``), kept
    to two columns so that the mixture can be drawn in the plane.

    Returns
    -------
    X : ndarray of shape (178, 2)
        Malic acid (g/l) and total phenols, one row per wine.
    cultivar : ndarray of shape (178,)
        The true cultivar (0, 1, 2), for comparison only.
    feature_names : tuple of str
    """
    from sklearn.datasets import load_wine

    wine = load_wine()
    columns = [wine.feature_names.index(name) for name in WINE_COLUMNS]
    return np.ascontiguousarray(wine.data[:, columns]), wine.target, WINE_COLUMNS
