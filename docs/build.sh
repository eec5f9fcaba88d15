#!/usr/bin/env bash
# Build the HTML documentation with every warning an error.
#
#   bash docs/build.sh [OUTPUT_DIR]      (default: docs/_build/html)
#
# Needs emfast's dependencies and docs/requirements.txt. The build runs the
# quick example scripts (wine_two_gaussians, how_many_components,
# poisson_counts, speed) at their full sizes; a build takes a few minutes on
# 2 cores, longer the first time, when numba compiles the kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/_build/html}"
# -E: read every page again, so that the example scripts run on every build
exec python -m sphinx -W --keep-going -E -b html docs "$out"
