"""AsyncClient: the same behaviours as Client, fewer cases (asyncio.run inside sync tests)."""

from __future__ import annotations

import asyncio

import pytest
from taskmanage_client import AsyncClient, Conflict, NotFound, ValidationError

from apps.tasks.models import Task as TaskRow

from .conftest import unit_id
from .proxy import FaultProxy

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_service_creates_lists_waits_for_and_cancels(api_url, admin_token, docs):
    async def scenario():
        async with AsyncClient(api_url, token=admin_token, retries=1) as client:
            task = await client.create_task(title="async", task_type=docs.key)
            batch = await client.create_tasks([{"title": "b1", "task_type": docs.key}])
            listed = [t.title async for t in client.list_tasks(task_type=docs.key,
                                                                 page_size=1)]
            with pytest.raises(TimeoutError):
                await client.wait_for(task.id, timeout=0.2, poll=0.05)
            await client.cancel(task.id, reason="enough")
            done = await client.wait_for(task.id, timeout=5, poll=0.05)
            with pytest.raises(Conflict) as refused:
                await client.cancel(task.id)
            retried = await client.retry(task.id)
            return task, batch, listed, done, refused.value, retried

    task, batch, listed, done, refused, retried = asyncio.run(scenario())

    assert task.status == "queued" and [t.title for t in batch] == ["b1"]
    assert sorted(listed) == ["async", "b1"]
    assert done.status == "cancelled"
    assert refused.current == "cancelled" and "retry" in refused.allowed
    assert retried.status == "queued"


def test_errors_map_to_the_same_classes(api_url, admin_token):
    async def scenario():
        async with AsyncClient(api_url, token=admin_token, retries=0) as client:
            with pytest.raises(ValidationError) as invalid:
                await client.create_task(title="", task_type="none")
            with pytest.raises(NotFound):
                await client.get_task("00000000-0000-0000-0000-000000000000")
            return invalid.value

    assert set(asyncio.run(scenario()).fields) == {"title", "task_type"}


def test_a_unit_registers_claims_logs_and_completes(api_url, admin_token, docs):
    uid = unit_id()

    async def scenario():
        async with AsyncClient(api_url, token=admin_token) as service:
            task = await service.create_task(title="async work", task_type=docs.key)
            registration = await service.register_unit(unit_id=uid, unit_type=docs.key)
            async with AsyncClient(api_url, token=registration.token) as unit:
                beat = await unit.heartbeat(uid, current_load=0)
                claimed = await unit.claim(uid, max=1, wait=0.5)
                await unit.progress(task.id, 50, message="half")
                await unit.log(task.id, [("debug", "detail")])
                done = await unit.complete(task.id, {"ok": True})
                outcomes = await unit.report_results(
                    uid, [{"task_id": task.id, "outcome": "completed"}])
                drained = await unit.drain(uid)
            lines = await service.logs(task.id)
            return beat, claimed, done, outcomes, drained, lines, task

    beat, claimed, done, outcomes, drained, lines, task = asyncio.run(scenario())

    assert beat.status == "online"
    assert [t.id for t in claimed] == [task.id]
    assert done.status == "completed" and done.result == {"ok": True}
    assert [o.status for o in outcomes] == ["conflict"]
    assert drained.status == "draining"
    assert [(line.level, line.message) for line in lines] == [("info", "half"),
                                                              ("debug", "detail")]


def test_a_503_is_retried_and_a_lost_create_makes_one_task(api_url, admin_token, docs):
    async def scenario(proxy: FaultProxy):
        async with AsyncClient(proxy.url, token=admin_token, backoff=0.01,
                               max_backoff=0.05) as client:
            proxy.fail_next("503", "lost")
            return await client.create_task(title="once, async", task_type=docs.key)

    with FaultProxy(api_url) as proxy:
        task = asyncio.run(scenario(proxy))

    creates = proxy.requests_to("POST", "/tasks")
    assert [s.answer for s in creates] == ["503", "lost", "forwarded"]
    assert len({s.json()["idempotency_key"] for s in creates}) == 1
    assert TaskRow.objects.get().title == task.title
