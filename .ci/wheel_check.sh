#!/usr/bin/env bash
# Build emfast's sdist, then its wheel from that sdist, check what both hold,
# install the wheel into a fresh virtual environment outside the checkout and
# run the console script there (`emfast --version`, `emfast demo --no-speed`).
#
# Everything happens in a temporary directory, removed at exit; the checkout is
# only read, and must be a git checkout (the package's files are the tracked
# ones). PYTHON names the interpreter to use (default: python3). The demo
# compiles emfast's numba kernels from scratch in the new environment, which
# takes a minute or more on 2 cores; its speed comparison on synthetic data
# (another minute, mostly scikit-learn's fits) is left out, as it checks
# nothing about the installation.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/emfast-wheel-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

started=$SECONDS
step() {
    echo "wheel check: $1 ($((SECONDS - started)) s so far)"
}

# `build` in a venv of its own, so that the check does not depend on what the
# calling environment has installed.
step "installing the build frontend"
"$python" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet build

# The build starts from a copy of the tracked files: nothing untracked (an old
# emfast.egg-info, build/) can slip into the sdist, and the checkout stays as
# it was. With no --sdist/--wheel, `build` makes the sdist and then the wheel
# from the unpacked sdist: a file the sdist misses breaks the wheel build.
step "building the sdist and the wheel"
mkdir "$work/src"
git -C "$checkout" ls-files -z | (cd "$checkout" && xargs -0 cp --parents -t "$work/src")
"$work/tools/bin/python" -m build --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 || {
    cat "$work/build.log"
    echo "wheel check: the build failed" >&2
    exit 1
}

step "checking their contents"
version=$("$python" -c "
import ast, pathlib
tree = ast.parse(pathlib.Path('emfast/__init__.py').read_text())
print(next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
           and [t.id for t in n.targets] == ['__version__']))")
git -C "$checkout" ls-files -- emfast >"$work/package_files.txt"
"$work/tools/bin/python" - "$work/dist" "$version" "$work/package_files.txt" <<'EOF'
"""Fail unless the sdist and the wheel hold every file a build and a user need."""

import sys
import tarfile
import zipfile
from pathlib import Path

dist, version, listing = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
package_files = set(listing.read_text().split())
problems = []


def expect(what, names, wanted):
    missing = sorted(set(wanted) - set(names))
    if missing:
        problems.append(f"{what} lacks {', '.join(missing)}")


sdists = list(dist.glob("*.tar.gz"))
wheels = list(dist.glob("*.whl"))
if [p.name for p in sdists] != [f"emfast-{version}.tar.gz"]:
    problems.append(f"expected one sdist emfast-{version}.tar.gz, got {sdists}")
if [p.name for p in wheels] != [f"emfast-{version}-py3-none-any.whl"]:
    problems.append(f"expected one wheel emfast-{version}-py3-none-any.whl, got {wheels}")
if not problems:
    with tarfile.open(sdists[0]) as sdist:
        prefix = f"emfast-{version}/"
        names = [m.name.removeprefix(prefix) for m in sdist.getmembers()]
    build_files = ["LICENSE", "README.md", "pyproject.toml", "setup.py", "PKG-INFO"]
    expect("the sdist", names, build_files + sorted(package_files))
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        info = f"emfast-{version}.dist-info/"
        entry_points = wheel.read(info + "entry_points.txt").decode()
        metadata = wheel.read(info + "METADATA").decode()
    expect("the wheel", names, sorted(package_files) + [info + "licenses/LICENSE"])
    if "emfast = emfast.__main__:main" not in entry_points:
        problems.append("the wheel declares no console script emfast")
    if "License-Expression: BSD-3-Clause" not in metadata:
        problems.append("the wheel's metadata has no BSD-3-Clause license")
for problem in problems:
    print(f"wheel check: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

step "installing the wheel into a fresh environment"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work/dist/emfast-$version-py3-none-any.whl"

# From the temporary directory, with no PYTHONPATH, only the installed copy of
# emfast can be imported.
cd "$work"
unset PYTHONPATH
step "running the installed emfast"
location=$("$work/venv/bin/python" -c "import emfast; print(emfast.__file__)")
case $location in
"$work/venv/"*) ;;
*)
    echo "wheel check: emfast was imported from $location, not the new environment" >&2
    exit 1
    ;;
esac
reported=$("$work/venv/bin/emfast" --version)
if [ "$reported" != "emfast $version" ]; then
    echo "wheel check: emfast --version printed '$reported', expected 'emfast $version'" >&2
    exit 1
fi
"$work/venv/bin/emfast" demo --no-speed
step "passed"
