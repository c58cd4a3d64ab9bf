"""The package's import graph: no cycles, every module in a layer, and tests/ independent of bench/."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import grimp

ROOT = Path(__file__).parent.parent
IMPORTS_BENCH = re.compile(r"^\s*(from|import) bench\b", re.MULTILINE)


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("webhook")
    cycles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if module in graph.find_upstream_modules(imported)
    ]
    assert cycles == []


def layered_modules() -> tuple[list[str], list[str]]:
    """(every module of the package, the layers .importlinter's package-wide contract names)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    layers = config["importlinter:contract:layers"]["layers"].split()
    return sorted(grimp.build_graph("webhook").modules), layers


def test_every_module_sits_in_a_layer_of_the_import_contract() -> None:
    modules, layers = layered_modules()
    outside = [m for m in modules if m != "webhook" and not any(m == layer or m.startswith(f"{layer}.") for layer in layers)]
    assert len(modules) > 30 and outside == []


def test_tests_and_bench_do_not_import_each_other_both_ways() -> None:
    """bench/ may use the test helpers; tests/ never import bench/, so a test never depends on a benchmark."""
    importing = [path.name for path in (ROOT / "tests").rglob("*.py") if IMPORTS_BENCH.search(path.read_text())]
    assert importing == []
