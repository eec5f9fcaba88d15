"""The package as distributed: public names, the PEP 561 marker, declared imports."""

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

import emfast

PACKAGE = Path(emfast.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"

# import name -> requirement that provides it, where the two differ
PROVIDED_BY = {"sklearn": "scikit-learn", "distributed": "dask[distributed]"}


def _imported_top_level_modules():
    """Top-level names of every module imported anywhere in emfast's source."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def _provided(requirement):
    """``"dask[distributed]>=2024.1"`` -> ``{"dask", "dask[distributed]"}``."""
    head = re.match(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?", requirement)
    return {head.group(1).lower(), head.group(0).lower()}


@pytest.fixture(scope="module")
def project():
    if not PYPROJECT.is_file():
        pytest.skip("emfast is not imported from a source checkout")
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def test_public_names_resolve_and_are_listed():
    lazy = set(emfast._LAZY)
    assert set(emfast.__all__) == lazy | {"__version__"}
    assert len(emfast.__all__) == len(set(emfast.__all__))
    for name in lazy:
        assert getattr(emfast, name).__module__.startswith(emfast._LAZY[name])
    assert re.fullmatch(r"\d+\.\d+\.\d+", emfast.__version__)


def test_type_checking_imports_match_the_lazy_names():
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    imported = {
        alias.name: node.module
        for node in block.body
        for alias in node.names
        if isinstance(node, ast.ImportFrom)
    }
    assert imported == emfast._LAZY


def test_py_typed_marker_ships_with_the_package():
    assert (PACKAGE / "py.typed").is_file()


def test_every_imported_distribution_is_declared(project):
    declared_core = set().union(*map(_provided, project["dependencies"]))
    declared = set(declared_core)
    for requirements in project["optional-dependencies"].values():
        declared = declared.union(*map(_provided, requirements))

    third_party = _imported_top_level_modules() - set(sys.stdlib_module_names)
    third_party.discard("emfast")
    needed = {PROVIDED_BY.get(name, name).lower() for name in third_party}
    assert needed - declared == set(), "imported by emfast but not declared"
    # and nothing is required at install time that emfast does not import
    assert declared_core - needed == set(), "declared but never imported"


def test_version_has_one_source(project):
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    setup_py = (PYPROJECT.parent / "setup.py").read_text(encoding="utf-8")
    assert "version" not in setup_py
