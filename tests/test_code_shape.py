"""The shape the code keeps: no module over 400 lines, no function over 60, every folder of the
package a package (import-linter sees only those), and the benchmarks free of the test tree.

The imports' direction is import-linter's (`lint-imports`, pyproject.toml); these are the rules
it cannot state. `server/_fastudp.c` is C and not measured here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "globaldns"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Exempt from the limits, each for its reason (module path, or path:function).
EXEMPT = {
    "globaldns/dns/responder.py:respond": "per-query path: a split costs time per query",
}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def name_of(module: Path) -> str:
    return module.relative_to(ROOT).as_posix()


def module_sizes() -> dict[str, int]:
    return {name_of(module): len(module.read_text().splitlines()) for module in modules()}


def function_sizes() -> dict[str, int]:
    """Lines from `def` to the body's last line, per function (nested ones too)."""
    sizes: dict[str, int] = {}
    for module in modules():
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                key = f"{name_of(module)}:{node.name}"
                sizes[key] = max(sizes.get(key, 0), node.end_lineno - node.lineno + 1)
    return sizes


def over(sizes: dict[str, int], limit: int) -> str:
    """The entries over the limit and not exempt, one per line ('' when none)."""
    return "\n".join(
        f"{name}: {n} lines" for name, n in sizes.items() if n > limit and name not in EXEMPT
    )


def test_no_module_is_over_400_lines() -> None:
    too_long = over(module_sizes(), MAX_MODULE_LINES)
    assert not too_long, f"over {MAX_MODULE_LINES} lines:\n{too_long}"


def test_no_function_is_over_60_lines() -> None:
    too_long = over(function_sizes(), MAX_FUNCTION_LINES)
    assert not too_long, f"over {MAX_FUNCTION_LINES} lines:\n{too_long}"


def test_every_exemption_is_still_needed() -> None:
    sizes = module_sizes() | function_sizes()
    limit = {name: MAX_FUNCTION_LINES if ":" in name else MAX_MODULE_LINES for name in EXEMPT}
    assert [name for name in EXEMPT if sizes.get(name, 0) <= limit[name]] == []


def test_every_folder_of_the_package_is_a_package() -> None:
    """A folder without `__init__.py` is a namespace package, which import-linter skips."""
    folders = {module.parent for module in modules()}
    assert sorted(str(f) for f in folders if not (f / "__init__.py").exists()) == []


def test_the_benchmarks_import_nothing_from_the_tests() -> None:
    """What a benchmark shares with the tests lives in `bench/` or the package."""
    found = []
    for script in sorted((ROOT / "bench").rglob("*.py")):
        for node in ast.walk(ast.parse(script.read_text(), str(script))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [
                f"{name_of(script)}:{node.lineno} {name}"
                for name in names
                if name == "tests" or name.startswith("tests.")
            ]
    assert not found, "imports from tests:\n" + "\n".join(found)
