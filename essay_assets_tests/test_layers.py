"""The folder tree is the architecture: stages import only from the stages below them
(pyproject's import-linter contract), and no two modules import each other, even lazily."""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_each_stage_imports_only_from_the_stages_below_it():
    lint = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-2000:]
    assert "1 kept, 0 broken" in lint.stdout


def test_no_module_imports_one_that_imports_it_back():
    graph = grimp.build_graph("essay_assets", cache_dir=None)
    circles = sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if importer < imported and graph.chain_exists(importer=imported, imported=importer)
    )
    assert circles == [], f"import circles: {circles}"
