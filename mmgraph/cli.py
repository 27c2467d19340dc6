"""The ``mmgraph`` command: thin wrappers that parse, call one library function, and print."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import mmgraph


class UserError(Exception):
    """A problem with the user's input: reported in one line, without a traceback."""


def _cmd_info(args: argparse.Namespace) -> int:
    from mmgraph.info import dataset_report

    print(dataset_report(args.dataset, root=args.root, seed=args.seed, progress=not args.no_progress))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmgraph",
        description="Graph-centric multimodal learning: samples → heterogeneous graphs → cross-modal GNNs.",
    )
    parser.add_argument("--version", action="version", version=f"mmgraph {mmgraph.__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="print a dataset's statistics and its graphs' shapes")
    p.add_argument("dataset", help="built-in dataset name (e.g. digits)")
    p.add_argument("--root", help="folder with the raw files (for datasets that need them)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, KeyError, FileNotFoundError, TypeError) as exc:
        if args.debug:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mmgraph {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mmgraph {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
