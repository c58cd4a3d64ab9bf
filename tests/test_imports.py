"""The package's import graph has no cycles: every module can be read knowing only what it imports."""

from __future__ import annotations

import grimp


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("webhook")
    cycles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if module in graph.find_upstream_modules(imported)
    ]
    assert cycles == []
