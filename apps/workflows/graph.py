"""Checks on a workflow's graph before anything is written: pure functions, no database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from apps.core.exceptions import InvalidInput


def check_graph(*, keys: Sequence[str], edges: Sequence[tuple[str, str]]) -> None:
    """Refuse repeated keys, edges naming unknown keys, self-edges and cycles, each as a 400
    naming the field (`tasks` or `edges`, with the item's index) and, for a cycle, its path."""
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in seen:
            raise InvalidInput.on("tasks", f"Item {index}: key {key!r} repeats item {seen[key]}.")
        seen[key] = index
    pairs: set[tuple[str, str]] = set()
    for index, (before, after) in enumerate(edges):
        for end in (before, after):
            if end not in seen:
                raise InvalidInput.on("edges", f"Item {index}: unknown key {end!r}.")
        if before == after:
            raise InvalidInput.on("edges", f"Item {index}: {before!r} cannot depend on itself.")
        if (before, after) in pairs:
            raise InvalidInput.on("edges", f"Item {index}: repeats the edge {before} → {after}.")
        pairs.add((before, after))
    cycle = find_cycle(keys=keys, edges=edges)
    if cycle:
        raise InvalidInput.on("edges", "The graph has a cycle: " + " → ".join(cycle) + ".")


def find_cycle(*, keys: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[str]:
    """A cycle's path (first key repeated at the end), or [] when the graph is acyclic.

    Kahn's algorithm removes every node not on or behind a cycle; each node left has a
    predecessor left, so walking back through left predecessors must come round."""
    preds: dict[str, list[str]] = defaultdict(list)
    succs: dict[str, list[str]] = defaultdict(list)
    indegree = dict.fromkeys(keys, 0)
    for before, after in edges:
        preds[after].append(before)
        succs[before].append(after)
        indegree[after] += 1
    ready = [k for k, n in indegree.items() if n == 0]
    while ready:
        key = ready.pop()
        for nxt in succs[key]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    left = {k for k, n in indegree.items() if n > 0}
    if not left:
        return []
    walk, at = [], min(left)
    position: dict[str, int] = {}
    while at not in position:
        position[at] = len(walk)
        walk.append(at)
        at = min(p for p in preds[at] if p in left)
    loop = walk[position[at]:]  # walked backwards: reverse into the edges' direction
    loop.reverse()
    start = loop.index(min(loop))  # the same cycle always reads the same way
    loop = loop[start:] + loop[:start]
    return [*loop, loop[0]]
