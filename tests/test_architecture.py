"""The architecture rule that import-linter cannot see: only services change state.

Every state field (a task's or request's `status`, a person's `load`, an assignment's
`outcome`, and the new apps' state fields as they come) is written only in an app's
`services.py`: there the row is locked, the rules are checked and the history row and events
are written. A write anywhere else (a view, a serializer, an admin, a subscriber, a command)
is a path around all of that, and this test names it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Add the state fields of new apps here (an execution unit's status is already `status`).
STATE_FIELDS = frozenset({"status", "load", "outcome"})
# Calls that write the keyword arguments they are given.
WRITING_METHODS = frozenset({"update", "create", "get_or_create", "update_or_create"})
# Calls that write the fields named in a list argument.
FIELD_LIST_WRITERS = frozenset({"update_rows", "bulk_update", "save"})


@dataclass(frozen=True)
class Write:
    path: str
    line: int
    field: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} writes `{self.field}`"


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _named_fields(node: ast.AST) -> set[str]:
    """String constants in a list, tuple or set literal (update_fields=[...], ["status"])."""
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return {e.value for e in node.elts if isinstance(e, ast.Constant)
                and isinstance(e.value, str)}
    return set()


def stateful_models() -> frozenset[str]:
    """Names of our models that have a state field: building one with it is a write."""
    from django.apps import apps

    return frozenset(m.__name__ for m in apps.get_models()
                     if any(f.name in STATE_FIELDS for f in m._meta.get_fields()))


def state_writes(source: str, path: str, *, models: frozenset[str]) -> list[Write]:
    found: list[Write] = []

    def note(node: ast.AST, fields) -> None:
        found.extend(Write(path, node.lineno, f) for f in sorted(set(fields) & STATE_FIELDS))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                note(node, [t.attr for t in elts if isinstance(t, ast.Attribute)])
        elif isinstance(node, ast.Call):
            name = _callee(node)
            if name in WRITING_METHODS or name in models:  # a model built with its state
                note(node, [k.arg for k in node.keywords if k.arg])
            if name in FIELD_LIST_WRITERS:
                for value in [*node.args, *(k.value for k in node.keywords)]:
                    note(node, _named_fields(value))
            if name == "setattr" and len(node.args) >= 2 and isinstance(node.args[1],
                                                                        ast.Constant):
                note(node, [node.args[1].value])
    return sorted(found, key=lambda w: (w.line, w.field))


def product_modules():
    for package in ("apps", "taskmanage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def may_write_state(path: Path) -> bool:
    return path.name == "services.py"


def test_state_fields_are_written_only_in_services():
    models = stateful_models()
    outside = [
        str(write)
        for path in product_modules() if not may_write_state(path)
        for write in state_writes(path.read_text(), str(path.relative_to(ROOT)), models=models)
    ]
    assert outside == [], "state written outside services.py:\n" + "\n".join(outside)


def test_the_rule_sees_every_way_of_writing_a_state_field():
    planted = '''
task.status = "done"
staff.load += 1
Task.objects.filter(pk=1).update(status="queued")
Assignment(task=t, outcome="accepted")
update_rows(Staff, ["load"], people)
request.save(update_fields=["status"])
setattr(assignment, "outcome", "revoked")
a.outcome, b.title = "x", "y"
'''
    fields = [(w.line, w.field) for w in state_writes(planted, "planted.py",
                                                             models=frozenset({"Assignment"}))]
    assert fields == [(2, "status"), (3, "load"), (4, "status"), (5, "outcome"),
                      (6, "load"), (7, "status"), (8, "outcome"), (9, "outcome")]


def test_reading_a_state_field_is_not_a_write():
    reads = '''
Task.objects.filter(status="queued").exclude(outcome="revoked")
if staff.load > 3 and task.status == "running":
    pass
Task.objects.values_list("status", flat=True)
Response(body, status=201)
'''
    assert state_writes(reads, "reads.py", models=frozenset({"Task"})) == []


def public_functions_with_positional_parameters(source: str, *, hooks: str,
                                                module: str = "services") -> list[str]:
    """Public functions of a services or selectors module whose parameters are not all
    keyword-only; a listener the app's hooks.py registers (`services.name`, `selectors.name`)
    is called positionally, as the hook calls every listener, and is left out."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            positional = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
            if positional and f"{module}.{node.name}" not in hooks:
                found.append(f"{node.name}({', '.join(positional)})")
    return found


def test_services_and_selectors_take_keyword_arguments_only():
    offenders = []
    for path in product_modules():
        if path.name in ("services.py", "selectors.py"):
            hooks_file = path.parent / "hooks.py"
            hooks = hooks_file.read_text() if hooks_file.exists() else ""
            offenders += [f"{path.relative_to(ROOT)}: {f}" for f in
                          public_functions_with_positional_parameters(
                              path.read_text(), hooks=hooks, module=path.stem)]
    assert offenders == []


def test_the_keyword_rule_spares_only_registered_listeners():
    source = "def task_do(*, task): ...\ndef task_undo(task): ...\ndef keep(change): ...\n"

    found = public_functions_with_positional_parameters(
        source, hooks="on_transition(services.keep, order=HookOrder.RECORD)")

    assert found == ["task_undo(task)"]


# What plugs an app into another: done only from the app's hooks.py, whose register() its
# AppConfig.ready calls, so the order is written down and importing a module has no effect.
REGISTRARS = frozenset({"subscribe", "on_transition", "on_created", "register_dispatcher",
                        "contribute_to_task_type", "contribute_to_task_admin",
                        "contribute_task_create_field", "receiver",
                        "connect"})


def _is_signal_connect(call: ast.Call) -> bool:
    # signal.connect(receiver, sender=…, dispatch_uid=…), not a socket's connect(address).
    return any(k.arg in ("sender", "dispatch_uid", "weak") for k in call.keywords)


def registrations(source: str) -> list[str]:
    tree = ast.parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    decorators = [d for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                  for d in n.decorator_list]
    # A decorator with arguments is a call already; a bare one (`@on_transition`) is a name.
    found = [_callee(c) for c in calls if _callee(c) != "connect" or _is_signal_connect(c)] + [
        getattr(d, "id", getattr(d, "attr", "")) for d in decorators
        if not isinstance(d, ast.Call)]
    return sorted(name for name in found if name in REGISTRARS)


def test_apps_plug_into_each_other_only_from_their_hooks_module():
    outside = [f"{path.relative_to(ROOT)}: {', '.join(names)}"
               for path in product_modules() if path.name != "hooks.py"
               if (names := registrations(path.read_text()))]
    assert outside == []


def test_the_hooks_rule_sees_decorators_and_calls():
    source = ('@subscribe("x")\ndef a(n, p): ...\n@on_transition\ndef b(c): ...\n'
              'post_save.connect(f, sender=User)\nregister_dispatcher("staff", g)\n'
              'sock.connect(path)\n')
    assert registrations(source) == ["connect", "on_transition", "register_dispatcher",
                                     "subscribe"]
