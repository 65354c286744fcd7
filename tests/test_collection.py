"""Every test folder counts: pytest's default collection reaches each folder that holds test files.

pytest (and ruff) silently skip folders named like ``build`` or ``dist`` (``norecursedirs``); a test
folder so named once kept 91 tests out of CI. This guard collects the suite as CI does and fails
for any folder under ``tests/`` whose ``test_*.py`` files contribute nothing.

Shared helpers live in ``tests/support``: no module under ``tests/`` imports a conftest or a ``test_*``
module (a test module imported elsewhere runs its tests twice; a conftest imported as a module is a
second copy of it, beside the one pytest loads).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _folders_with_tests() -> set[str]:
    return {str(p.parent.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py") if ".venv" not in p.parts}


def test_default_collection_reaches_every_test_folder() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    collected = {str(Path(line.split("::", 1)[0]).parent) for line in run.stdout.splitlines() if "::" in line}
    folders = _folders_with_tests()
    assert len(folders) > 10, folders  # the walk itself works
    missing = sorted(folders - collected)
    assert not missing, f"test folders the default collection skips (rename them or fix norecursedirs): {missing}"


#: modules nothing may import: conftest files and test modules
FORBIDDEN = re.compile(r"^tests(\.\w+)*\.(conftest|test_\w+)$")


def _imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def test_no_module_imports_a_conftest_or_a_test_module() -> None:
    assert FORBIDDEN.match("tests.conftest") and FORBIDDEN.match("tests.pipelines.test_ingest")
    assert not FORBIDDEN.match("tests.support.data")
    modules = [p for p in (REPO / "tests").rglob("*.py") if ".venv" not in p.parts]
    assert len(modules) > 50, len(modules)  # the walk itself works
    found = [
        f"{p.relative_to(REPO)}: {name}" for p in modules for name in _imported_modules(p) if FORBIDDEN.match(name)
    ]
    assert not found, f"import helpers from tests/support instead: {found}"
