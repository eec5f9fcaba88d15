"""Directives of the emfast docs: example pages and the speed table.

``emfast-example`` makes one page of the examples gallery;
``emfast-compare-table`` renders ``benchmarks/results/compare.json``.


``.. emfast-example:: NAME.py`` renders the module docstring of
``examples/NAME.py``, its figures, and its source. With the ``:run:`` flag the
script is run during the build as a user runs it (``python examples/NAME.py
--out DIR``, Agg backend) with ``DIR`` inside the build tree; the page shows the
figures it wrote (the paths it prints after ``wrote``) and what else it
printed. Without ``:run:`` the page shows the committed figures named by
``:figures:`` (file names in ``examples/figures/``). A script that fails,
prints no figure, or names a figure that does not exist is a build error.

Configuration: ``emfast_gallery_examples`` (the examples directory) and
``emfast_gallery_timeout`` (seconds per script).
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

WROTE = "wrote "


def docstring_as_rst(docstring):
    """The docstring's paragraphs, with indented blocks (commands) as code."""
    lines = []
    for paragraph in docstring.strip().split("\n\n"):
        rows = paragraph.splitlines()
        if all(row.startswith("    ") for row in rows):
            lines += [".. code-block:: bash", ""] + rows
        else:
            lines += rows
        lines.append("")
    return lines


def run_example(script, out_dir, timeout, repo_root):
    """Run ``script --out out_dir``; return (figure paths, other output lines)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg")
    # the scripts import the emfast of this checkout, like conf.py
    env["PYTHONPATH"] = os.pathsep.join(
        [str(repo_root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(out_dir)],
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{script.name} exited with status {result.returncode}:\n"
            f"{result.stderr[-3000:]}"
        )
    figures, output = [], []
    for line in result.stdout.splitlines():
        if line.startswith(WROTE):
            figures.append(Path(line[len(WROTE) :].strip()))
        else:
            output.append(line)
    return figures, output


class ExampleDirective(SphinxDirective):
    """Docstring, figures, printed output and source of one example script."""

    required_arguments = 1
    option_spec = {"run": directives.flag, "figures": directives.unchanged}

    def run(self):
        config = self.env.config
        examples = Path(config.emfast_gallery_examples)
        script = examples / self.arguments[0]
        if not script.is_file():
            raise self.error(f"example script not found: {script}")
        self.env.note_dependency(str(script))
        docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
        if not docstring:
            raise self.error(f"{script.name} has no module docstring")

        if "run" in self.options:
            out_dir = Path(self.env.app.doctreedir) / "emfast_gallery" / script.stem
            try:
                figures, output = run_example(
                    script, out_dir, config.emfast_gallery_timeout, examples.parent
                )
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                raise self.error(str(err)) from None
            if not figures:
                raise self.error(f"{script.name} wrote no figure")
        else:
            names = (self.options.get("figures") or "").split()
            if not names:
                raise self.error("give :run: or :figures: for " + script.name)
            figures = [examples / "figures" / name for name in names]
            output = []
        for figure in figures:
            if not figure.is_file():
                raise self.error(f"figure not found: {figure}")

        here = Path(self.env.srcdir, self.env.docname).parent
        lines = docstring_as_rst(docstring)
        for figure in figures:
            relative = os.path.relpath(figure, here).replace(os.sep, "/")
            lines += [f".. image:: {relative}", f"   :alt: {figure.stem}", ""]
        if any(line.strip() for line in output):
            lines += ["What the script prints:", "", ".. code-block:: text", ""]
            lines += ["   " + line for line in output] + [""]
        source = os.path.relpath(script, here).replace(os.sep, "/")
        lines += [
            f"Source of ``examples/{script.name}`` (:download:`download <{source}>`):",
            "",
            f".. literalinclude:: {source}",
            "   :language: python",
            "",
        ]
        container = nodes.container(classes=["emfast-example"])
        nested_parse_with_titles(
            self.state, StringList(lines, source=str(script)), container
        )
        return [container]


def compare_rst(results):
    """``compare.json`` (from ``benchmarks/compare.py --json``) as rst tables."""
    rows = results["rows"]
    sizes = {row["n_samples"] for row in rows}
    lines = [
        f"Run: {results['machine']}. Time per EM iteration "
        f"((T(1 + n) − T(1)) / n with n = {results['iterations']}) or per "
        f"``predict_proba`` call, median of {results['repeats']} runs"
        + (f", N = {sizes.pop():.0e} rows." if len(sizes) == 1 else "."),
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
    ]
    table = [
        [
            "what",
            "D",
            "K",
            "covariance",
            "dtype",
            "scikit-learn (s)",
            "emfast (s)",
            "ratio",
        ]
    ]
    if len(sizes) > 1:  # only when the run mixes sizes
        table[0].insert(1, "N")
    for row in rows:
        what = "EM" if row["case"] == "em" else f"``{row['case']}``"
        cells = [
            what,
            row["n_features"],
            row["n_components"],
            row["covariance_type"],
            row["dtype"],
            f"{row['sklearn']:.4f}",
            f"{row['emfast']:.4f}",
            f"**{row['ratio']:.1f}×**",
        ]
        if len(sizes) > 1:
            cells.insert(1, f"{row['n_samples']:.0e}")
        table.append(cells)
    lines += list_table_rows(table)
    if results.get("memory"):
        lines += [
            "Extra peak memory of a fit (2 iterations), measured in a child "
            "process per library:",
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "",
        ]
        table = [["N", "D", "K", "covariance", "dtype", "scikit-learn", "emfast"]]
        for entry in results["memory"]:
            n_samples, n_features, n_components, covariance_type, dtype = entry["case"]
            table.append(
                [
                    f"{n_samples:.0e}",
                    n_features,
                    n_components,
                    covariance_type,
                    dtype,
                    f"{entry['sklearn_bytes'] / 2**20:.0f} MiB",
                    f"{entry['emfast_bytes'] / 2**20:.1f} MiB",
                ]
            )
        lines += list_table_rows(table)
    return lines


def list_table_rows(table):
    lines = []
    for row in table:
        cells = [str(cell) for cell in row]
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {cell}" for cell in cells[1:]]
    return lines + [""]


class CompareTableDirective(SphinxDirective):
    """The tables of a ``benchmarks/compare.py --json`` result file."""

    required_arguments = 1

    def run(self):
        relative, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(relative)
        try:
            results = json.loads(Path(path).read_text(encoding="utf-8"))
            lines = compare_rst(results)
        except (OSError, ValueError, KeyError) as err:
            raise self.error(f"cannot read {path}: {err!r}") from None
        container = nodes.container(classes=["emfast-compare"])
        self.state.nested_parse(StringList(lines, source=path), 0, container)
        return [container]


def setup(app):
    app.add_config_value("emfast_gallery_examples", "", "env")
    app.add_config_value("emfast_gallery_timeout", 600, "env")
    app.add_directive("emfast-example", ExampleDirective)
    app.add_directive("emfast-compare-table", CompareTableDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
