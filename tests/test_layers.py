"""emfast's layers: every import goes down a layer or sideways, never up.

Every module of the package is parsed with ``ast`` and every import in it is
checked, wherever it is (module level, inside a function, under a condition),
including ``importlib.import_module("...")`` with a literal name. The layers
(low to high) and who may import whom are the README's "Architecture" table:

0. foundation: ``_numba``, ``_chunks``, ``_sklearn``, ``_errors``, ``_typing``,
   ``datasets``
1. kernels: ``kernels/`` (the mixtures' in ``kernels/mixture/``, the VAE's
   beside them; ``fastexp`` is shared)
2. validation: ``_validation``
3. rows (the data layer): ``rows/``
4. engine: ``mixture/_engine/``
5. families: ``mixture/gaussian/``, ``mixture/bayesian/``, ``mixture/poisson/``
6. tools: ``mixture/selection``, ``_model_io``, ``_model_decode``,
   ``_tabular_io``, ``_stdout``
7. entry points: ``_cli``, ``__main__``, ``_demo``, ``_warmup``, ``emfast``

and ``vae/``, which may import layers 0 to 2 only. Besides the order: families
do not import each other (the variational family builds on the Gaussian one),
the mixture side and the VAE side never import each other (kernels included),
and only ``rows/_dask.py`` imports Dask (loaded by the factories in
``rows/__init__.py`` alone).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "emfast"

# module-name prefix -> layer; the longest matching prefix wins
LAYERS = {
    "emfast._numba": 0,
    "emfast._chunks": 0,
    "emfast._sklearn": 0,
    "emfast._errors": 0,
    "emfast._typing": 0,
    "emfast.datasets": 0,
    "emfast.kernels": 1,
    "emfast._validation": 2,
    "emfast.rows": 3,
    "emfast.mixture._engine": 4,
    "emfast.mixture": 5,  # the families' folders (and the docstring-only __init__)
    "emfast.mixture.selection": 6,
    "emfast._model_io": 6,
    "emfast._model_decode": 6,
    "emfast._tabular_io": 6,
    "emfast._stdout": 6,
    "emfast._cli": 7,
    "emfast.__main__": 7,
    "emfast._demo": 7,
    "emfast._warmup": 7,
    "emfast": 7,
    "emfast.vae": 2.5,  # beside the data layer: it may import 0-2 only
}
# every public folder of emfast/mixture/ is a family
FAMILIES = tuple(
    f"emfast.mixture.{path.name}"
    for path in sorted((PACKAGE / "mixture").iterdir())
    if (path / "__init__.py").exists() and not path.name.startswith("_")
)
# family -> the other families it may import
FAMILY_BASES = {"emfast.mixture.bayesian": ("emfast.mixture.gaussian",)}
VAE_KERNELS = ("emfast.kernels.vae",)
MIXTURE_SIDE = ("emfast.kernels.mixture", "emfast.rows", "emfast.mixture")
DASK = ("dask", "distributed")
DASK_MODULE = "emfast.rows._dask"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _is_module(name):
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports(module, path):
    """``(imported module, line)`` of every import in the module's source."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if base == "emfast" and alias.name == "__version__":
                    continue  # a constant of the package, no import behind it
                yield (full if _is_module(full) else base), node.lineno
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value, node.lineno


def _layer(module):
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def _starts(module, prefixes):
    """Whether ``module`` is one of ``prefixes`` or inside one (a prefix ending
    in ``_`` matches any module name that starts with it)."""
    for prefix in prefixes:
        if prefix.endswith("_") and module.startswith(prefix):
            return True
        if module == prefix or module.startswith(prefix + "."):
            return True
    return False


def _violations(module, path):
    own = _layer(module)
    for imported, line in _imports(module, path):
        where = f"{module} (line {line}) imports {imported}"
        if _starts(imported, DASK) and module != DASK_MODULE:
            yield f"{where}: only {DASK_MODULE} imports Dask"
        if imported == DASK_MODULE and module != "emfast.rows":
            yield f"{where}: only the factories of emfast.rows load {DASK_MODULE}"
        if not imported.startswith("emfast"):
            continue
        theirs = _layer(imported)
        if own == 2.5 and theirs not in (0, 1, 2, 2.5):
            yield f"{where}: the VAE imports layers 0-2 only"
        elif own != 2.5 and theirs == 2.5 and own < 7:
            yield f"{where}: only the VAE and the entry points import the VAE"
        elif theirs is not None and own is not None and theirs > own:
            yield f"{where}: layer {theirs} above layer {own}"
        vae_side = own == 2.5 or _starts(module, VAE_KERNELS)
        if vae_side and _starts(imported, MIXTURE_SIDE):
            yield f"{where}: the VAE side imports the mixture side"
        if _starts(module, MIXTURE_SIDE) and _starts(imported, VAE_KERNELS):
            yield f"{where}: the mixture side imports the VAE's kernels"
        for family in FAMILIES:
            if _starts(module, (family,)):
                allowed = (family, *FAMILY_BASES.get(family, ()))
                others = [f for f in FAMILIES if not _starts(imported, allowed)]
                if any(_starts(imported, (f,)) for f in others):
                    yield f"{where}: a family imports another family"


MODULES = dict(_modules())


def test_every_module_has_a_layer():
    assert len(MODULES) > 60
    assert FAMILIES == tuple(
        f"emfast.mixture.{name}"
        for name in (
            "bayesian",
            "bernoulli",
            "categorical",
            "custom",
            "gaussian",
            "poisson",
        )
    )
    missing = [m for m in MODULES if _layer(m) is None]
    assert not missing


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    problems = sorted(set(_violations(module, MODULES[module])))
    assert not problems, "\n".join(problems)


def test_the_check_sees_lazy_and_upward_imports(tmp_path, monkeypatch):
    """The checker itself: an upward import inside a function is caught."""
    source = (
        "def f():\n"
        "    from emfast.mixture.gaussian import GaussianMixture\n"
        "    import dask.array\n"
        "    return GaussianMixture\n"
    )
    path = tmp_path / "fake.py"
    path.write_text(source)
    problems = list(_violations("emfast.rows._local", path))
    assert any("layer 5 above layer 3" in p for p in problems), problems
    assert any("imports Dask" in p for p in problems), problems
    path.write_text("from emfast.rows._dask import DaskRows\n")
    problems = list(_violations("emfast.mixture._engine.estimator", path))
    assert any("only the factories" in p for p in problems), problems
    path.write_text(source)
    problems = list(_violations("emfast.mixture.poisson._family", path))
    assert any("another family" in p for p in problems), problems
    vae = list(_violations("emfast.vae._training", path))
    assert any("VAE imports layers 0-2" in p for p in vae), vae
