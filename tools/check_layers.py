#!/usr/bin/env python3
"""Check that the imports of ``hsic/`` only go down the layers of ``docs/architecture.md``.

Run from the repository root: ``python tools/check_layers.py``. It reads the code as text (ast),
counting imports inside functions too, and exits 1 listing every import of a module from a
higher layer. (Circles, private names and file sizes are checked by the shared
``check_structure.py``.)
"""

from __future__ import annotations

import ast
import pathlib
import sys

#: Layer of each module prefix, bottom first; the longest matching prefix wins.
LAYERS = {
    "hsic._base": 0,
    "hsic._stats": 1,
    "hsic._nulls": 2,
    "hsic._api": 3,
    "hsic.kernels": 4,
    "hsic.losses": 4,
    "hsic.plot": 4,
    "hsic.datasets": 4,
    "hsic.similarity": 4,
    "hsic": 4,  # the package's __init__: the public face
    "hsic.mi": 5,
    "hsic.bottleneck": 5,
    "hsic.cli": 5,
    "hsic.__main__": 5,
}


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def module_name(path: pathlib.Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: pathlib.Path, name: str):
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            yield node.lineno, base


def main() -> int:
    problems = []
    for path in sorted(pathlib.Path("hsic").rglob("*.py")):
        name = module_name(path)
        for lineno, target in imports(path, name):
            if not (target == "hsic" or target.startswith("hsic.")):
                continue
            same_app = target.split(".")[:2] == name.split(".")[:2]
            if layer(target) > layer(name) and not same_app:
                problems.append(f"{path}:{lineno}: {name} (layer {layer(name)}) imports "
                                f"{target} (layer {layer(target)})")
    for line in problems:
        print(line)
    print(f"layers: {len(problems)} upward import(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
