"""The benchmark harness and its areas: a tool beside the product, never part of it.

Nothing under apps/ or taskmanage/ imports this package (import-linter checks it, `make lint`),
the product's settings do not install it and its URLconf does not route it, and the wheel
does not ship it (pyproject's package discovery). It runs from a checkout:
`python -m bench <area>|all` (`make bench`), with bench.settings.
"""
