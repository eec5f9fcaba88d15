"""Shared by the example scripts: command line and figure saving."""

import argparse
from pathlib import Path


def parse_args(description):
    """``--out DIR`` (default: examples/figures) and ``--quick`` (small sizes)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "figures",
        help="directory for the PNG files",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (for the test suite)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def save(figure, out_dir, name):
    """Save ``figure`` as ``out_dir/name.png`` and print where it went."""
    path = Path(out_dir) / f"{name}.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    print(f"wrote {path}")
    return path
