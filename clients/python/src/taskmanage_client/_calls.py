"""Every API call the clients make, as data (`Call`): path, body, retry safety, parsing.

Client and AsyncClient run these; neither builds a request itself, so the two flavours cannot
disagree on a path or a body, and the schema drift test reads the paths from here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from ._transport import Call
from .models import TERMINAL_STATUSES, Heartbeat, LogLine, Outcome, Registration, Task, Unit

API = "/api/v1"
# A claim that waits is held by the server up to `wait` seconds: read that long and this more.
LONG_POLL_MARGIN = 10.0
OPEN_STATUSES = frozenset({"draft", "pending_approval", "blocked", "scheduled", "queued",
                           "assigned", "running", "paused", "in_review"})
SECRET_HEADER = "X-Registration-Secret"


def _task(response: httpx.Response) -> Task:
    return Task.from_json(response.json())


def _none(response: httpx.Response) -> None:
    return None


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _seg(value: Any) -> str:
    """One path segment: an id the caller passes cannot reach another path."""
    return quote(str(value), safe="")


def _dropped_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# --- service side -----------------------------------------------------------------------------
def login(username: str, password: str) -> Call:
    # Repeating it at worst issues a second token, which expires unused.
    return Call("POST", f"{API}/auth/token", json={"username": username, "password": password},
                safe=True, parse=lambda r: r.json()["token"])


def task_item(*, title: str, task_type: str, priority: str | None = None,
              payload: dict | None = None, reference: str | None = None,
              labels: list[str] | None = None, run_at: datetime | str | None = None,
              due_at: datetime | str | None = None, depends_on: list[str] | None = None,
              shard_count: int | None = None, draft: bool = False,
              idempotency_key: str | None = None, parent: str | None = None) -> dict:
    """The body of one create, with an idempotency key (a new one unless given)."""
    item = _dropped_none({
        "title": title, "task_type": task_type, "priority": priority, "payload": payload,
        "reference": reference, "labels": labels, "run_at": _iso(run_at),
        "due_at": _iso(due_at), "depends_on": [str(d) for d in depends_on or []] or None,
        "shard_count": shard_count, "parent": None if parent is None else str(parent),
    })
    if draft:
        item["draft"] = True
    item["idempotency_key"] = idempotency_key or str(uuid.uuid4())
    return item


def create_task(**fields: Any) -> Call:
    # The key is made here, once: every attempt of this call sends the same one, so the
    # server answers a repeat with the task the first attempt made (200, not 201).
    return Call("POST", f"{API}/tasks", json=task_item(**fields), safe=True, parse=_task)


def create_tasks(items: list[dict]) -> Call:
    body = [{**item, "idempotency_key": item.get("idempotency_key") or str(uuid.uuid4())}
            for item in items]
    return Call("POST", f"{API}/tasks/batch", json={"tasks": body}, safe=True,
                parse=lambda r: [str(t["id"]) for t in r.json()["tasks"]])


def get_task(task_id: str) -> Call:
    return Call("GET", f"{API}/tasks/{_seg(task_id)}", parse=_task)


def list_tasks(*, page: int, page_size: int, **filters: Any) -> Call:
    params = _dropped_none(filters)
    if isinstance(params.get("status"), list | tuple | set | frozenset):
        params["status"] = ",".join(params["status"])
    params.update(page=page, page_size=page_size)
    return Call("GET", f"{API}/tasks", params=params, parse=_page(Task.from_json))


def _page(build):
    def parse(response: httpx.Response) -> tuple[list, bool]:
        data = response.json()
        return [build(item) for item in data["results"]], bool(data.get("next"))
    return parse


def logs(task_id: str, *, page: int, attempt: int | None = None) -> Call:
    params = _dropped_none({"attempt": attempt, "page": page, "page_size": 500})
    return Call("GET", f"{API}/tasks/{_seg(task_id)}/logs", params=params,
                parse=_page(LogLine.from_json))


def _task_action(task_id: str, action: str, body: dict, *, settled: frozenset[str]) -> Call:
    return Call("POST", f"{API}/tasks/{_seg(task_id)}/{action}", json=body, safe=True,
                parse=_task, settled=settled, recover=lambda: get_task(task_id))


def cancel(task_id: str, *, reason: str = "") -> Call:
    return _task_action(task_id, "cancel", {"reason": reason},
                        settled=frozenset({"cancelled"}))


def retry(task_id: str) -> Call:
    # A repeat that finds the task open again (queued, or further along already) did it.
    return _task_action(task_id, "retry", {}, settled=OPEN_STATUSES)


# --- unit side --------------------------------------------------------------------------------
def register_unit(*, unit_id: str, unit_type: str, name: str | None = None, capacity: int = 1,
                  endpoint: str | None = None, labels: list[str] | None = None,
                  heartbeat_timeout: int | None = None,
                  registration_secret: str | None = None) -> Call:
    body = _dropped_none({"id": unit_id, "unit_type": unit_type, "name": name,
                          "capacity": capacity, "endpoint": endpoint, "labels": labels,
                          "heartbeat_timeout": heartbeat_timeout})
    headers = {SECRET_HEADER: registration_secret} if registration_secret else {}
    # Not repeated once sent: a repeat with the secret alone is refused (the id exists now),
    # and the first attempt's token would be lost with its answer anyway.
    return Call("POST", f"{API}/execution-units/register", json=body, headers=headers,
                safe=False, parse=lambda r: Registration.from_json(
                    r.json(), created=r.status_code == 201))


def get_unit(unit_id: str) -> Call:
    return Call("GET", f"{API}/execution-units/{_seg(unit_id)}",
                parse=lambda r: Unit.from_json(r.json()))


def heartbeat(unit_id: str, *, current_load: int = 0, metadata: dict | None = None) -> Call:
    # Not repeated once sent: the server hands out the cancel flags once, with the answer;
    # the unit's next heartbeat is the retry.
    return Call("POST", f"{API}/execution-units/{_seg(unit_id)}/heartbeat",
                json={"current_load": current_load, "metadata": metadata or {}}, safe=False,
                parse=lambda r: Heartbeat.from_json(r.json()))


def claim(unit_id: str, *, max: int = 1, wait: float = 0.0) -> Call:
    # Not repeated once sent: tasks leased by an attempt whose answer was lost would sit
    # with this unit, unknown to it, until their lease runs out.
    return Call("POST", f"{API}/execution-units/{_seg(unit_id)}/claim",
                json={"max": max, "wait": wait}, safe=False,
                read_timeout=wait + LONG_POLL_MARGIN if wait else None,
                parse=lambda r: [Task.from_json(t) for t in r.json()["tasks"]])


def progress(task_id: str, value: int, *,
             estimated_completion: datetime | str | None = None) -> Call:
    body = {"progress": value, "estimated_completion": _iso(estimated_completion)}
    return Call("POST", f"{API}/tasks/{_seg(task_id)}/progress", json=body, safe=True,
                parse=_none)


def log(task_id: str, lines: list[str | tuple[str, str]]) -> Call:
    body = [{"level": "info", "message": line} if isinstance(line, str)
            else {"level": line[0], "message": line[1]} for line in lines]
    # Not repeated once sent: a repeat would write the lines twice.
    return Call("POST", f"{API}/tasks/{_seg(task_id)}/logs", json={"lines": body}, safe=False,
                parse=_none)


def complete(task_id: str, result: Any = None) -> Call:
    # A task type that asks for approval of completion sends it to review instead. No
    # result is no `result` key: the API takes any JSON there but null.
    body = {} if result is None else {"result": result}
    return _task_action(task_id, "complete", body,
                        settled=frozenset({"completed", "in_review"}))


def fail(task_id: str, error: str, *, retryable: bool = True) -> Call:
    # A retryable failure with retries left puts the task back in the queue (or schedules
    # it after a backoff); it may even have been claimed again since.
    settled = {"failed"} | ({"queued", "scheduled", "assigned", "running"} if retryable
                            else set())
    return _task_action(task_id, "fail", {"error": error, "retryable": retryable},
                        settled=frozenset(settled))


def report_results(unit_id: str, results: list[dict]) -> Call:
    # Safe: a repeat reports each task again, and the server answers `conflict` in the
    # place of those the first attempt already settled; the others stand.
    body = [{**item, "task_id": str(item["task_id"])} for item in results]
    return Call("POST", f"{API}/execution-units/{_seg(unit_id)}/results",
                json={"results": body}, safe=True,
                parse=lambda r: [Outcome.from_json(o) for o in r.json()["results"]])


def give_back(unit_id: str, task_ids: list[str], *, reason: str = "") -> Call:
    # Safe: a repeat finds the tasks queued already, not held, and gives back nothing more.
    return Call("POST", f"{API}/execution-units/{_seg(unit_id)}/give-back",
                json={"task_ids": [str(t) for t in task_ids], "reason": reason}, safe=True,
                parse=lambda r: [str(t) for t in r.json()["given_back"]])


def drain(unit_id: str, *, reason: str = "") -> Call:
    return Call("POST", f"{API}/execution-units/{_seg(unit_id)}/drain",
                json={"reason": reason}, safe=True, settled=frozenset({"draining"}),
                recover=lambda: get_unit(unit_id), parse=lambda r: Unit.from_json(r.json()))


def undrain(unit_id: str, *, reason: str = "") -> Call:
    # A draining unit takes work again; a repeat finding it online did it already.
    return Call("POST", f"{API}/execution-units/{_seg(unit_id)}/undrain",
                json={"reason": reason}, safe=True, settled=frozenset({"online"}),
                recover=lambda: get_unit(unit_id), parse=lambda r: Unit.from_json(r.json()))


def deregister(unit_id: str) -> Call:
    return Call("DELETE", f"{API}/execution-units/{_seg(unit_id)}", parse=_none, gone_ok=True)


__all__ = ["TERMINAL_STATUSES"]
