"""The layer rule of DESIGN.md, checked by walking every import in the source tree.

    core → runtime → stages → orchestrate          (corpora: a leaf beside them)

corpora, the dataset generators, uses nothing of ours but core.errors (its problems are DataErrors,
which every command prints as one line); every layer may use it.

A module may import its own package and the layers below its own; a stage never imports another
stage (they talk through run-directory files). Imports inside functions count, and so do
`importlib.import_module("slmforge....")` calls with a constant (or f-string) prefix.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

STAGES = ("prepare", "train", "prefs", "align", "evaluate", "judge", "export", "verify", "report")
RANK = {"core": 0, "runtime": 1, **{s: 2 for s in STAGES}, "orchestrate": 3}


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    target: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: imports {self.target} ({self.why})"


def unit_of(module: str) -> str:
    """`slmforge.X.…` → X (the package that decides the layer); the package root itself is `slmforge`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "slmforge"


def check_edge(source: str, target: str, module: str = "") -> str | None:
    """Why `source` (a unit) may not import `target` (a unit), or None when it may."""
    if source == target or source in ("slmforge", "__main__"):
        return None
    if source == "corpora":
        return None if module == "slmforge.core.errors" else "corpora is a leaf: it imports nothing of ours but core.errors"
    if target == "corpora":
        return None  # every layer may use the corpus generators
    if source not in RANK:
        return f"{source} is in no layer; add it to tests/helpers/layers.py"
    if target not in RANK:
        return f"{target} is in no layer"
    if RANK[target] > RANK[source]:
        return f"{source} ({_name(source)}) may not import the later layer {target} ({_name(target)})"
    if RANK[target] == RANK[source] == 2:
        return f"stage {source} may not import stage {target}: stages talk through run-directory files"
    return None


def _name(unit: str) -> str:
    return {0: "core", 1: "runtime", 2: "stage", 3: "orchestrate"}[RANK[unit]]


def _imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from slmforge import x` names the submodule x
            found += [(node.lineno, f"{target}.{a.name}" if target == "slmforge" else target) for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "find_spec"):
            arg = node.args[0] if node.args else None
            text = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else (
                arg.values[0].value if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant) else None)
            if text:
                found.append((node.lineno, text.rstrip(".")))
    return [(line, t) for line, t in found if t == "slmforge" or t.startswith("slmforge.")]


def violations(package_dir: Path) -> list[Violation]:
    """Every import in the package at `package_dir` (a folder named slmforge) that breaks the layer rule."""
    root = package_dir.parent
    out: dict[tuple[str, int, str], Violation] = {}
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        is_package = rel.name == "__init__"
        module = ".".join(rel.parts[:-1] if is_package else rel.parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, target in _imported(tree, module, is_package):
            why = check_edge(unit_of(module), unit_of(target), target) if target != "slmforge" else None
            if why:
                v = Violation(str(path.relative_to(root)), line, target, why)
                out.setdefault((v.file, v.line, v.target), v)
    return list(out.values())
