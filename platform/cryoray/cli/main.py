"""Entry point of the ``cryoray`` program: builds subcommands from an explicit list of modules.

Each command module has a docstring (first line: the help; the rest: the epilog with example
usage), ``add_args(parser)`` and ``main(args)``. Bad input (:class:`cryoray.errors.InputError`)
ends with one line on stderr naming the file and the reason, and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from cryoray import __version__
from cryoray.errors import InputError

__all__ = ["COMMANDS", "build_parser", "main"]

#: Command names, each the module ``cryoray.cli.<name>`` (underscores for dashes).
COMMANDS = (
    "info",
    "prepare",
    "resample",
    "fit",
    "simulate",
    "ingest",
    "store",
    "train",
    "tune",
    "align",
    "compare-models",
    "enhance",
    "segment",
    "build-model",
    "predict-batch",
    "serve",
    "demo",
)


def _load(name: str) -> ModuleType:
    module = importlib.import_module(f"cryoray.cli.{name.replace('-', '_')}")
    for attr in ("add_args", "main"):
        if not hasattr(module, attr):
            raise RuntimeError(f"command module {module.__name__} has no {attr}()")
    if not module.__doc__:
        raise RuntimeError(f"command module {module.__name__} has no docstring")
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryoray",
        description="Train and serve deep-learning models on cryo-EM density maps, on Ray.",
    )
    parser.add_argument("--version", action="version", version=f"cryoray {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log details (debug level)")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = _load(name)
        doc = module.__doc__.strip()
        summary, _, epilog = doc.partition("\n")
        cmd = sub.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=epilog.strip() or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_args(cmd)
        cmd.set_defaults(run=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    try:
        args.run(args)
    except InputError as exc:
        print(f"cryoray {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cryoray {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
