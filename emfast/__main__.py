"""Command line: ``python -m emfast demo``."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m emfast",
        description="Fast EM for latent-variable models.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="fit the wine data of the EM tutorial for K=1..4 and compare"
    )
    demo.add_argument(
        "--no-speed",
        action="store_true",
        help="skip the timing comparison on a larger synthetic data set",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from emfast._demo import run_demo

        run_demo(speed=not args.no_speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
