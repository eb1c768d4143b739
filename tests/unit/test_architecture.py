"""The dependency rule of docs/architecture.md: imports point one way, with no loop at any
depth. `make lint` runs the import contracts (pyproject.toml); this test adds what the
contracts cannot see: loops between modules of one layer or inside one subpackage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def test_architecture__no_two_modules_import_each_other_at_any_depth() -> None:
    graph = grimp.build_graph("ash_oban_django", cache_dir=None)
    loops = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if graph.chain_exists(importer=imported, imported=importer):
                chain = graph.find_shortest_chain(importer=imported, imported=importer)
                loops.append(f"{importer} -> {' -> '.join(chain or ())}")
    assert loops == []


def test_architecture__layers_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 broken" in run.stdout
