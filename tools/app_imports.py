"""Print which apps each app imports: `python tools/app_imports.py`.

Every import statement counts, including those inside functions (a lazy import is still a
dependency). The layering contract itself is import-linter's (`make lint`); this is the
human-readable picture of the same graph, for reviews and notes.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("apps", "taskmanage", "bench")


def owner(module: str) -> str | None:
    """`apps.tasks.models` -> `apps.tasks`; `taskmanage.urls` -> `taskmanage`."""
    parts = module.split(".")
    if parts[0] == "apps" and len(parts) > 1 and parts[1] != "__init__":
        return ".".join(parts[:2])
    return parts[0] if parts[0] in TOPS else None


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for top in TOPS:
        for path in sorted((ROOT / top).rglob("*.py")) if (ROOT / top).is_dir() else ():
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            source = owner(module)
            if source is None:
                continue
            edges.setdefault(source, set())
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue  # relative imports stay inside their own package
                for name in names:
                    target = owner(name)
                    if target and target != source:
                        edges[source].add(target)
    return edges


def main() -> int:
    for source, targets in sorted(graph().items()):
        print(f"{source:18} -> {', '.join(sorted(targets)) or '(nothing)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
