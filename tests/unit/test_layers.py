"""The layer rule holds in the source tree, and the check itself catches a backward import."""

from __future__ import annotations

from pathlib import Path

import slmforge
from tests.helpers.layers import violations


def test_no_import_goes_against_the_layer_order():
    found = violations(Path(slmforge.__file__).parent)
    assert not found, "imports against the layers (core → runtime → stages → orchestrate):\n" + "\n".join(map(str, found))


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "slmforge"
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return pkg


def test_a_backward_import_inside_a_function_is_caught(tmp_path):
    pkg = _package(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/recipe.py": "def load():\n    from slmforge.train.sft import train  # core reaching up\n",
        "train/__init__.py": "",
        "train/sft.py": "from slmforge.core.recipe import load\n",
    })
    found = violations(pkg)
    assert [(v.file, v.line, v.target) for v in found] == [("slmforge/core/recipe.py", 2, "slmforge.train.sft")]
    assert "core (core) may not import the later layer train (stage)" in found[0].why


def test_one_stage_importing_another_is_caught_even_relatively_or_through_importlib(tmp_path):
    pkg = _package(tmp_path, {
        "__init__.py": "",
        "evaluate/__init__.py": "",
        "evaluate/stage.py": "from ..prefs import pairs\nimport importlib\nm = importlib.import_module(f'slmforge.train.{1}')\n",
        "prefs/__init__.py": "",
        "prefs/pairs.py": "from . import sources\n",  # its own package: fine
        "prefs/sources.py": "",
        "runtime/__init__.py": "",
        "runtime/models.py": "from slmforge.core import errors\n",  # a lower layer: fine
        "core/__init__.py": "",
        "core/errors.py": "",
        "orchestrate/__init__.py": "",
        "orchestrate/pipeline.py": "from slmforge.evaluate.stage import x\nfrom slmforge.prefs.pairs import y\n",  # fine
    })
    found = sorted((v.file, v.line, v.target) for v in violations(pkg))
    assert found == [("slmforge/evaluate/stage.py", 1, "slmforge.prefs"), ("slmforge/evaluate/stage.py", 3, "slmforge.train")]


def test_corpora_is_a_leaf(tmp_path):
    pkg = _package(tmp_path, {"__init__.py": "", "corpora/__init__.py": "from slmforge.core.errors import DataError\n",
                              "corpora/cli.py": "from slmforge.core.recipe import load\n",
                              "core/__init__.py": "", "core/errors.py": "", "core/recipe.py": ""})
    assert [(v.file, v.why) for v in violations(pkg)] == [("slmforge/corpora/cli.py", "corpora is a leaf: it imports nothing of ours but core.errors")]
