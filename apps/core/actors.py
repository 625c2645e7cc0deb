"""Who did something: a user, an execution unit, or the system itself (a sweep, a timer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

ActorKind = Literal["user", "unit", "system"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    name: str
    user: AbstractBaseUser | None = None
    # The acting machine's row id (an execution unit's), for rules about what it holds.
    ref: int | None = None

    @classmethod
    def for_user(cls, user) -> Actor:
        machine = getattr(user, "machine_actor", None)
        if machine is not None:  # a MachinePrincipal stands in request.user for a unit
            return machine
        return cls(kind="user", name=user.get_username(), user=user)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(kind="system", name=name)

    @classmethod
    def unit(cls, *, ref: int, name: str) -> Actor:
        return cls(kind="unit", name=name, ref=ref)

    def describe(self) -> dict[str, str | int | None]:
        return {"kind": self.kind, "name": self.name, "user_id": getattr(self.user, "pk", None)}


class MachinePrincipal:
    """`request.user` for a machine calling the API with its own credential (an execution
    unit): authenticated, never staff or superuser, in no group, with no user row. Code that
    asks who the caller is sees `is_machine` and its `machine_actor`; code that does not
    ask finds a user with no rights at all."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_machine = True
    pk = None
    id = None

    def __init__(self, actor: Actor, *, task_scope=None):
        self.machine_actor = actor
        # The tasks it may see (a Q over Task), decided by whoever authenticated it.
        self.task_scope = task_scope

    def get_username(self) -> str:
        return self.machine_actor.name

    def __str__(self) -> str:
        return f"{self.machine_actor.kind}:{self.machine_actor.name}"

    @property
    def groups(self):
        from django.contrib.auth.models import Group

        return Group.objects.none()

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def has_perms(self, perms, obj=None) -> bool:
        return False

    def has_module_perms(self, app_label) -> bool:
        return False
