"""Where a workflow's graph draws its nodes: a pure function over keys and edges, no database.

Layered ("Sugiyama-style") drawing, left to right: a node's column is the length of the longest
path reaching it, so every edge points rightwards and a step never sits beside one it waits
for; within a column, nodes are ordered by the mean position of their neighbours (a few
barycentre sweeps), which untangles most crossings of the graphs people build (fan-out, fan-in,
diamonds) at a cost linear in the edges per sweep. A workflow holds at most 2,000 nodes
(apps.workflows.services.MAX_NODES), so the whole graph is laid out and drawn; the page scrolls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

NODE_WIDTH = 168
NODE_HEIGHT = 46
COLUMN_GAP = 56  # room for the edges' curves and arrowheads between columns
ROW_GAP = 14
MARGIN = 8
SWEEPS = 4  # down and up twice: more rarely removes another crossing on real graphs


@dataclass(frozen=True)
class Placed:
    key: str
    layer: int
    x: int
    y: int


@dataclass(frozen=True)
class Line:
    before: str
    after: str
    path: str  # an SVG path from the right of `before` to the left of `after`


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, Placed]
    lines: list[Line]
    width: int
    height: int
    layers: int


def layers_of(*, keys: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each key's longest-path layer: 0 without dependencies, else one past its deepest
    dependency. Kahn's order, so each node is settled once its dependencies are. Nodes on a
    cycle (the services refuse cycles, so only hand-made data) go one past the rest."""
    succs: dict[str, list[str]] = {k: [] for k in keys}
    indegree = dict.fromkeys(keys, 0)
    for before, after in edges:
        succs[before].append(after)
        indegree[after] += 1
    layer = dict.fromkeys(keys, 0)
    ready = [k for k in keys if indegree[k] == 0]
    settled = 0
    while ready:
        key = ready.pop()
        settled += 1
        for nxt in succs[key]:
            layer[nxt] = max(layer[nxt], layer[key] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    if settled < len(keys):
        last = max((layer[k] for k in keys if indegree[k] == 0), default=-1) + 1
        for k in keys:
            if indegree[k] > 0:
                layer[k] = last
    return layer


def _order(columns: list[list[str]], edges: Sequence[tuple[str, str]]) -> None:
    """Reorder each column in place by its nodes' barycentres against the column before
    (sweeping right) or after (sweeping left); a node without neighbours there keeps its place."""
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for before, after in edges:
        succs.setdefault(before, []).append(after)
        preds.setdefault(after, []).append(before)
    position = {k: i for column in columns for i, k in enumerate(column)}
    for sweep in range(SWEEPS):
        rightwards = sweep % 2 == 0
        indices = range(1, len(columns)) if rightwards else range(len(columns) - 2, -1, -1)
        near = preds if rightwards else succs
        for c in indices:
            column = columns[c]

            def centre(key: str, near=near) -> float:
                seen = near.get(key)
                if not seen:
                    return float(position[key])
                return sum(position[n] for n in seen) / len(seen)

            # Stable sort: ties keep the previous order (creation order at first).
            column.sort(key=centre)
            for i, key in enumerate(column):
                position[key] = i


def layout(*, keys: Sequence[str], edges: Sequence[tuple[str, str]]) -> Layout:
    """Positions for `keys` (in creation order) and a drawn path for each edge [before, after].
    Columns are centred on the tallest one, so a lone start or end node sits mid-height."""
    layer = layers_of(keys=keys, edges=edges)
    count = max(layer.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(count)]
    for key in keys:
        columns[layer[key]].append(key)
    _order(columns, edges)
    tallest = max((len(c) for c in columns), default=0)
    step_x, step_y = NODE_WIDTH + COLUMN_GAP, NODE_HEIGHT + ROW_GAP
    nodes: dict[str, Placed] = {}
    for c, column in enumerate(columns):
        offset = (tallest - len(column)) * step_y // 2
        for r, key in enumerate(column):
            nodes[key] = Placed(key=key, layer=c, x=MARGIN + c * step_x,
                                y=MARGIN + offset + r * step_y)
    lines = [Line(before=b, after=a, path=_curve(nodes[b], nodes[a])) for b, a in edges]
    width = MARGIN * 2 + max(count * step_x - COLUMN_GAP, 0)
    height = MARGIN * 2 + max(tallest * step_y - ROW_GAP, 0)
    return Layout(nodes=nodes, lines=lines, width=width, height=height, layers=count)


def _curve(start: Placed, end: Placed) -> str:
    """A cubic curve leaving `start` rightwards and entering `end` from the left, stopping short
    of its border so the arrowhead (the marker) lands on it."""
    x1, y1 = start.x + NODE_WIDTH, start.y + NODE_HEIGHT // 2
    x2, y2 = end.x - 2, end.y + NODE_HEIGHT // 2
    bend = max((x2 - x1) // 2, 20)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
