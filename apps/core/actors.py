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

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> Actor:
        return cls(kind="user", name=user.get_username(), user=user)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(kind="system", name=name)

    def describe(self) -> dict[str, str | int | None]:
        return {"kind": self.kind, "name": self.name, "user_id": getattr(self.user, "pk", None)}
