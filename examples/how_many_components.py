"""How many components? AIC and BIC of the wine mixture for K = 1..6.

The EM tutorial's second question: fitting more components always raises the
likelihood, so the choice uses an information criterion. On the two wine
measurements both AIC and BIC drop sharply from one component to two and are
nearly flat after that.

    python examples/how_many_components.py [--out DIR]
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _common import parse_args, save  # noqa: E402

from emfast import select_n_components  # noqa: E402
from emfast.datasets import load_wine_tutorial  # noqa: E402


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, _, _ = load_wine_tutorial()
    result = select_n_components(
        X, range(1, 7), criterion="bic", random_state=0, n_init=1 if args.quick else 3
    )
    print(result.table_)
    figure, ax = plt.subplots(figsize=(7, 4.5))
    result.plot(ax=ax)
    bic = result.table_["bic"]
    ax.annotate(
        "sharp drop from 1 to 2",
        xy=(2, bic[1]),
        xytext=(2.6, bic[0]),
        arrowprops={"arrowstyle": "->"},
        fontsize=10,
    )
    ax.legend(loc="center right")
    ax.set_title("Wine (malic acid, total phenols): information criteria by K")
    figure.tight_layout()
    save(figure, args.out, "how_many_components")


if __name__ == "__main__":
    main()
