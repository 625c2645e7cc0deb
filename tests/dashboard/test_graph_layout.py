"""The workflow graph's layout: a pure function, checked without a database."""

from __future__ import annotations

import random

from apps.dashboard.graph_layout import NODE_HEIGHT, NODE_WIDTH, layers_of, layout


def overlapping(placed) -> list[tuple[str, str]]:
    boxes = sorted(placed.values(), key=lambda p: (p.x, p.y))
    clashes = []
    for a, b in zip(boxes, boxes[1:], strict=False):  # sorted: a clash is between neighbours
        if a.x == b.x and b.y < a.y + NODE_HEIGHT:
            clashes.append((a.key, b.key))
    columns = sorted({p.x for p in boxes})
    assert all(right - left >= NODE_WIDTH
               for left, right in zip(columns, columns[1:], strict=False))
    return clashes


def random_dag(n: int, *, seed: int, fan: int = 2) -> tuple[list[str], list[tuple[str, str]]]:
    draw = random.Random(seed)
    keys = [f"k{i}" for i in range(n)]
    edges = {(keys[draw.randrange(i)], keys[i]) for i in range(1, n) for _ in range(fan)}
    return keys, sorted(edges)


def test_a_step_is_drawn_right_of_every_step_it_waits_for():
    keys, edges = random_dag(300, seed=7)
    drawn = layout(keys=keys, edges=edges)
    assert all(drawn.nodes[b].layer < drawn.nodes[a].layer for b, a in edges)
    assert all(drawn.nodes[b].x < drawn.nodes[a].x for b, a in edges)


def test_layers_are_the_longest_path_to_each_step():
    # a → b → c → d and a shortcut a → d: d goes after c, not beside b.
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("x", "c")]
    assert layers_of(keys=["a", "b", "c", "d", "x"], edges=edges) == {
        "a": 0, "b": 1, "c": 2, "d": 3, "x": 0}


def test_no_two_steps_overlap_and_all_fit_in_the_drawing():
    keys, edges = random_dag(500, seed=3, fan=1)
    drawn = layout(keys=keys, edges=edges)
    assert overlapping(drawn.nodes) == []
    assert all(0 <= p.x <= drawn.width - NODE_WIDTH and 0 <= p.y <= drawn.height - NODE_HEIGHT
               for p in drawn.nodes.values())
    assert len(drawn.lines) == len(edges)


def test_a_crossing_is_untangled_by_the_barycentre_pass():
    # Created in an order that crosses: a1 → b2 and a2 → b1.
    drawn = layout(keys=["a1", "a2", "b1", "b2"], edges=[("a1", "b2"), ("a2", "b1")])
    y = {k: p.y for k, p in drawn.nodes.items()}
    assert (y["a1"] < y["a2"]) == (y["b2"] < y["b1"])


def test_lone_steps_and_an_empty_graph_are_drawn():
    assert layout(keys=[], edges=[]).width > 0
    drawn = layout(keys=["only"], edges=[])
    assert drawn.layers == 1 and drawn.nodes["only"].x >= 0

