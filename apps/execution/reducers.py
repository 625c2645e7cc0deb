"""Reduce steps: how a sharded task's result is made of its shards' results.

A sharding_broadcast type names one in `strategy_params.reduce` (default `collect`). A reducer
receives every shard's result, in shard order, and returns the parent's result; raising
`ReduceError` (or any ValueError or TypeError) fails the parent with the message, so a
shard returning the wrong shape shows as the parent's error, not as a server error. A project
adds its own with `@reducer("name")` (imported before the type that names it is saved).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

Reducer = Callable[[list[Any]], Any]
REDUCERS: dict[str, Reducer] = {}


class ReduceError(ValueError):
    pass


def reducer(name: str) -> Callable[[Reducer], Reducer]:
    def add(func: Reducer) -> Reducer:
        REDUCERS[name] = func
        return func
    return add


def reduce_results(name: str, results: list[Any]) -> Any:
    try:
        func = REDUCERS[name]
    except KeyError:
        raise ReduceError(f"no reducer {name!r}") from None
    return func(results)


@reducer("collect")
def collect(results: list[Any]) -> list[Any]:
    """Every shard's result, in shard order."""
    return list(results)


@reducer("sum")
def total(results: list[Any]) -> Any:
    """The sum of numeric results."""
    if not all(isinstance(r, numbers.Real) and not isinstance(r, bool) for r in results):
        raise ReduceError("sum: every shard's result must be a number")
    return sum(results)


@reducer("concat")
def concat(results: list[Any]) -> list[Any]:
    """The shards' lists, one after the other (a null result adds nothing)."""
    out: list[Any] = []
    for r in results:
        if r is None:
            continue
        if not isinstance(r, list):
            raise ReduceError("concat: every shard's result must be a list")
        out.extend(r)
    return out


@reducer("merge")
def merge(results: list[Any]) -> dict[str, Any]:
    """The shards' objects merged key by key; numbers under the same key are added, other
    values from a later shard replace an earlier one's."""
    out: dict[str, Any] = {}
    for r in results:
        if r is None:
            continue
        if not isinstance(r, dict):
            raise ReduceError("merge: every shard's result must be an object")
        for key, value in r.items():
            before = out.get(key)
            if _addable(before) and _addable(value):
                out[key] = before + value
            else:
                out[key] = value
    return out


def _addable(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
