"""Entry point of the ``cryoray`` program: builds subcommands from an explicit list of modules.

Each command module has a docstring (first line: the help; the rest: the epilog with example
usage), ``add_args(parser)`` and ``main(args)`` (returning None, or an exit code). Bad input
(:class:`cryoray.errors.InputError`) ends with one line on stderr naming the file and the
reason, and exit code 2; so does a ``MemoryError`` or ``ValueError`` that a command let escape
(``-v`` logs its traceback).

Only the module of the command being run is imported: the others' help lines are read from
their docstrings without importing them, so ``cryoray --help`` and light commands (``info``)
never pay for Ray, torch or numba.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
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
    "synthesize",
    "manifest",
    "ingest",
    "store",
    "train",
    "lr-range",
    "tune",
    "align",
    "compare-models",
    "evaluate",
    "local-resolution",
    "enhance",
    "segment",
    "build-model",
    "predict-batch",
    "import-weights",
    "models",
    "benchmark",
    "serve",
    "demo",
)


def _module_name(name: str) -> str:
    return f"cryoray.cli.{name.replace('-', '_')}"


def _load(name: str) -> ModuleType:
    module = importlib.import_module(_module_name(name))
    for attr in ("add_args", "main"):
        if not hasattr(module, attr):
            raise RuntimeError(f"command module {module.__name__} has no {attr}()")
    if not module.__doc__:
        raise RuntimeError(f"command module {module.__name__} has no docstring")
    return module


def _docstring(name: str) -> str:
    """A command module's docstring, read from its source without importing it."""
    spec = importlib.util.find_spec(_module_name(name))
    if spec is None or spec.origin is None:
        raise RuntimeError(f"no command module {_module_name(name)}")
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8")))
    if not doc:
        raise RuntimeError(f"command module {_module_name(name)} has no docstring")
    return doc


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not a top-level option), if any."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def build_parser(command: str | None = None, *, all_commands: bool = False) -> argparse.ArgumentParser:
    """The ``cryoray`` parser; only ``command``'s module (or every one, ``all_commands``) is imported."""
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
        module = _load(name) if all_commands or name == command else None
        doc = (module.__doc__ if module else _docstring(name)).strip()
        summary, _, epilog = doc.partition("\n")
        cmd = sub.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=epilog.strip() or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if module is not None:
            module.add_args(cmd)
            cmd.set_defaults(run=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_chosen(argv))
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    try:
        code = args.run(args)  # a command may return a non-zero code for work that completed but failed
    except InputError as exc:
        print(f"cryoray {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # an input too large for this machine that no check caught first
        logging.debug("traceback", exc_info=True)
        detail = f": {' '.join(str(exc).split())}" if str(exc) else ""
        print(f"cryoray {args.command}: error: out of memory{detail} (the input is too large here)", file=sys.stderr)
        return 2
    except ValueError as exc:  # a value no check caught: still one line, never a traceback
        logging.debug("traceback", exc_info=True)
        print(f"cryoray {args.command}: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`cryoray info MAP | head`): not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"cryoray {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
