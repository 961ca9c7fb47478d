"""The platform command line: ``python -m hashbank.platform COMMAND ...``.

Commands:
    match PATH...   hash image files (all eight dihedral variants) and report matches

Each command is a pair of functions in :data:`COMMANDS`: one adds its arguments to its
sub-parser, the other runs it and returns the exit status. ``sync``, ``serve`` and ``feedback``
join the table the same way.

Exit status: 0 when the command ran (whether or not anything matched), 1 when some input could
not be processed (an unreadable image), 2 for a usage error or an unusable store.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from hashbank.platform.index import MAX_THRESHOLD, PDQIndex

#: Where the commands find the local store when ``--store`` is not given.
STORE_ENV = "HASHBANK_STORE"


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=os.environ.get(STORE_ENV),
        help=f"directory of the local PDQ index (default: ${STORE_ENV})",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "faiss", "numpy"),
        default="auto",
        help="index backend: faiss when installed, else numpy (the answers are the same)",
    )


def open_index(args: argparse.Namespace) -> PDQIndex:
    if not args.store:
        raise UsageError(f"no store: pass --store DIR or set {STORE_ENV}")
    store = Path(args.store)
    try:
        return PDQIndex.load(store, backend=args.backend)
    except (OSError, ValueError, RuntimeError) as exc:
        raise UsageError(f"cannot open the store {store}: {exc}") from exc


class UsageError(Exception):
    """Reported on stderr with exit status 2."""


# --------------------------------------------------------------------------------------------
# match


def add_match_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files to check")
    parser.add_argument(
        "--threshold",
        type=int,
        default=None,
        help=f"largest Hamming distance reported (default: the store's, normally 31; at most {MAX_THRESHOLD})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per file instead of text")


def run_match(args: argparse.Namespace, out: TextIO) -> int:
    from hashbank.platform.matcher import match_files

    with open_index(args) as index:
        if args.threshold is not None and not 0 <= args.threshold <= index.threshold:
            raise UsageError(f"--threshold must be between 0 and the store's {index.threshold}")
        results = match_files(index, args.paths, threshold=args.threshold)
    failed = False
    for result in results:
        failed = failed or result.error is not None
        if args.json:
            out.write(json.dumps(result.as_dict(), sort_keys=True) + "\n")
            continue
        if result.error:
            out.write(f"{result.path}: error: {result.error}\n")
        elif result.skipped:
            out.write(f"{result.path}: skipped: {result.skipped}\n")
        elif not result.matches:
            out.write(f"{result.path}: no match (PDQ quality {result.quality})\n")
        else:
            count = len(result.matches)
            out.write(f"{result.path}: {count} match{'es' if count > 1 else ''} (PDQ quality {result.quality})\n")
            for match in result.matches:
                out.write(f"  {match.key}  distance {match.distance}  variant {match.variant}\n")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------

#: (name, one-line summary, add its arguments, run it and return the exit status)
Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace, TextIO], int]]

COMMANDS: tuple[Command, ...] = (
    (
        "match",
        "hash image files (all eight rotations and mirrors) and report stored hashes within the threshold",
        add_match_arguments,
        run_match,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashbank.platform",
        description="Match uploads against the survivors' hash feed, locally.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary, add_arguments, run in COMMANDS:
        command = sub.add_parser(name, help=summary, description=summary)
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, out or sys.stdout)
    except UsageError as exc:
        sys.stderr.write(f"{parser.prog} {args.command}: {exc}\n")
        return 2
