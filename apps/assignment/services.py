"""The assignment engine: who gets each queued task, and every way a task changes hands.

Queued work is taken with `FOR UPDATE SKIP LOCKED`, so parallel workers never assign the same
task; capacity is taken with a conditional UPDATE on the person's row in the same transaction
(apps.staff.services.staff_take_capacity), so nobody goes over it, whatever runs at once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.events import emit
from apps.core.exceptions import Conflict, InvalidInput
from apps.staff.models import Leave
from apps.staff.services import leave_mark_started, staff_take_capacity_many
from apps.tasks import services as task_services
from apps.tasks.holding import Change
from apps.tasks.models import Task, TaskType
from apps.tasks.states import AssigneeKind, TaskStatus, Transition

from . import optimal
from .models import (
    OPEN_OUTCOMES,
    Assignment,
    AssignmentPolicy,
    LeavePolicy,
    Outcome,
    Reason,
    RoundRobinCursor,
    Unassignable,
)
from .pool import (
    ANY_HOLDER,
    OVERFLOW,
    Candidate,
    relax_level,
    requirements,
    requirements_of,
    staff_pool,
    staff_pools,
)
from .selectors import load_policies, policy_of
from .strategies import (
    Picker,
    RankContext,
    Scored,
    check_strategy_kind,
    check_strategy_params,
    default_strategy_for,
    get_strategy,
    skill_coverage,
    strategy_class,
    unknown_strategy_message,
)

S = TaskStatus
T = Transition
ENGINE = Actor.system("assignment")
UNASSIGNABLE_REASON_MAX = Unassignable._meta.get_field("reason").max_length


@dataclass
class Planned:
    """A hand-over decided in memory, written with the rest of the batch."""

    task: Task
    choice: Scored
    strategy: str
    reason: str
    explanation: str


@dataclass
class AssignResult:
    assigned: int = 0
    unassignable: int = 0
    tasks: list[Task] = field(default_factory=list)


class _Pool:
    """One pool of a batch (a task type at a widening step): its members, who still has room
    for one more of its tasks, and the type's strategy's picker over them."""

    def __init__(self, candidates: list[Candidate], task_type: TaskType):
        self.candidates = candidates
        self.weight = task_type.capacity_weight
        self.strategy_name = policy_of(task_type=task_type).strategy
        self._live = {id(c) for c in candidates if c.fits(self.weight)}
        self._live_by_user = Counter(c.user_id for c in candidates if id(c) in self._live)
        self._picker: Picker | None = None
        self._picker_asked = False

    def drop_if_full(self, c: Candidate) -> None:
        if id(c) in self._live and not c.fits(self.weight):
            self._live.discard(id(c))
            self._live_by_user[c.user_id] -= 1
            if self._picker is not None:
                self._picker.drop(c)

    def open_to(self, excluded: set[int]) -> bool:
        """Whether anyone not excluded still has room (what `Planner.candidates` finds)."""
        return len(self._live) > sum(self._live_by_user[u] for u in excluded
                                     if u in self._live_by_user)

    def best(self, task: Task, excluded: set[int], ctx: RankContext) -> Scored | None:
        strategy = get_strategy(self.strategy_name)
        if not self._picker_asked:
            self._picker_asked = True
            self._picker = strategy.picker(
                [c for c in self.candidates if id(c) in self._live], ctx)
        if self._picker is not None:
            return self._picker.pick(task, excluded, ctx)
        found = [c for c in self.candidates if id(c) in self._live and c.user_id not in excluded]
        return strategy.best(task, found, ctx)


class Planner:
    """One batch's view of the pool: loaded once per task type and widening, then kept in
    step in memory as the batch hands out work (the database stays the judge)."""

    def __init__(self, now: datetime):
        self.now = now
        self._pools: dict[tuple[int, int], _Pool] = {}
        self._reqs: dict[int, list] = {}
        self._entries: dict[int, list[tuple[Candidate, _Pool]]] = defaultdict(list)  # by user
        self.plan: list[Planned] = []
        self.cursors: dict[int, int] = {}

    def prefetch(self, tasks: list[Task]) -> None:
        """Load every pool the batch's tasks may be offered at, in a few queries for all
        (rather than a few per pool, as each is first asked for)."""
        wanted = {(t.task_type_id, level): (t.task_type, level)
                  for t in tasks for level in self.levels(t)}
        wanted = {k: v for k, v in wanted.items() if k not in self._pools}
        if not wanted:
            return
        types = {t.pk: t for t, _ in wanted.values() if t.pk not in self._reqs}
        self._reqs.update(requirements_of(types.values()))
        pools = staff_pools(list(wanted.values()), now=self.now, reqs=self._reqs)
        for (type_id, level), (task_type, _) in wanted.items():
            self._add_pool((type_id, level), pools[(type_id, level)], task_type)

    def reqs(self, task_type: TaskType):
        if task_type.pk not in self._reqs:
            self._reqs[task_type.pk] = requirements(task_type)
        return self._reqs[task_type.pk]

    def _pool(self, task_type: TaskType, relax: int) -> _Pool:
        key = (task_type.pk, relax)
        if key not in self._pools:
            self._add_pool(key, staff_pool(task_type, relax=relax, now=self.now,
                                           reqs=self.reqs(task_type)), task_type)
        return self._pools[key]

    def _add_pool(self, key: tuple[int, int], candidates: list[Candidate],
                  task_type: TaskType) -> None:
        pool = _Pool(candidates, task_type)
        for c in pool.candidates:
            self._entries[c.user_id].append((c, pool))
        self._pools[key] = pool

    def pool(self, task_type: TaskType, relax: int) -> list[Candidate]:
        return self._pool(task_type, relax).candidates

    def levels(self, task: Task) -> list[int]:
        """The widening steps a task may be offered at, narrowest first."""
        relax = relax_level(task.task_type, task.queued_at, self.now)
        return [min(relax, ANY_HOLDER)] + ([OVERFLOW] if relax >= OVERFLOW else [])

    def candidates(self, task: Task, excluded: set[int]) -> tuple[list[Candidate], int]:
        for level in self.levels(task):
            weight = task.task_type.capacity_weight
            found = [c for c in self.pool(task.task_type, level)
                     if c.user_id not in excluded and c.fits(weight)]
            if found:
                return found, level
        return [], relax_level(task.task_type, task.queued_at, self.now)

    def best(self, task: Task, excluded: set[int]) -> tuple[Scored | None, int]:
        """The strategy's choice for `task` at the narrowest step where anyone not excluded
        has room, and that step: `best` over `candidates`, without listing them."""
        for level in self.levels(task):
            pool = self._pool(task.task_type, level)
            if pool.open_to(excluded):
                return pool.best(task, excluded, self.context(task.task_type)), level
        return None, 0

    def why_unassignable(self, task: Task, excluded: set[int]) -> str:
        """Why nobody was planned for `task`, in words an operator can act on."""
        if self.candidates(task, excluded)[0]:
            strategy = policy_of(task_type=task.task_type).strategy
            reason = f"its strategy ({strategy}) chose none of the people available"
        elif shut_out := self.candidates(task, set())[0]:
            names = sorted(c.name for c in shut_out)
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            reason = (f"everyone who could take it ({shown}) declined it, let it expire or had "
                      "it taken back in this attempt; retry the task or reassign it by hand")
        else:
            needs = ", ".join(f"{r.skill_name} ≥ {r.level}" for r in self.reqs(task.task_type))
            reason = "no qualified person with free capacity" + (f" (needs {needs})" if needs
                                                                 else "")
        return reason[:UNASSIGNABLE_REASON_MAX]

    def took(self, user_id: int, weight: int) -> None:
        for c, pool in self._entries[user_id]:
            c.load += weight
            pool.drop_if_full(c)

    def context(self, task_type: TaskType) -> RankContext:
        return RankContext(requirements=self.reqs(task_type), weight=task_type.capacity_weight,
                           params=policy_of(task_type=task_type).strategy_params or {},
                           cursor=self.cursors.get(task_type.pk, 0))


def _strategy_has(task_type: TaskType, trait: str) -> bool:
    """Whether the type's strategy class says `trait` (plans_batch, keeps_cursor); an
    unknown name has none, and fails where it is used (get_strategy)."""
    cls = strategy_class(policy_of(task_type=task_type).strategy)
    return cls is not None and getattr(cls, trait)


# --- the engine -------------------------------------------------------------------------------
def assign_queued(
    *, task_ids=None, task_type_ids=None, limit: int = 500, now: datetime | None = None
) -> AssignResult:
    """Assign a batch of queued staff tasks, best first (optionally only some tasks or task
    types). Returns what happened."""
    now = now or timezone.now()
    result = AssignResult()
    with transaction.atomic():
        tasks = task_services.tasks_lock_queued(kind=AssigneeKind.STAFF, task_ids=task_ids,
                                          task_type_ids=task_type_ids, limit=limit)
        if not tasks:
            return result
        load_policies(task_types=[t.task_type for t in tasks])  # one query for the batch
        planner = Planner(now)
        planner.prefetch(tasks)
        _load_cursors(planner, tasks)
        excluded = assignment_exclusions(task_ids=[t.pk for t in tasks])
        batch = [t for t in tasks if _strategy_has(t.task_type, "plans_batch")]
        if batch:
            _plan_optimal(batch, planner, excluded)
        planned = {p.task.pk for p in planner.plan}
        for task in tasks:
            if task.pk not in planned:
                _plan_greedy(task, planner, excluded.get(task.pk, set()))
        records = _commit(planner.plan)
        _finish(tasks, records, planner, result, excluded)
    return result


def _plan_greedy(task: Task, planner: Planner, excluded: set[int]) -> bool:
    # Everyone the planner offers fits, so the best one is the choice.
    choice, level = planner.best(task, excluded)
    if choice is None:
        return False
    strategy = policy_of(task_type=task.task_type).strategy
    return _plan(task, choice, planner, level, strategy=strategy)


def _plan_optimal(tasks: list[Task], planner: Planner, excluded) -> None:
    """Plan the batch with the exact solver (apps.assignment.optimal); a task the solver
    leaves out, or whose person has no room after all, is planned greedily (there is none
    when nothing else changed loads meanwhile: the solver already serves the most tasks)."""
    pools, by_kind, kinds = {}, {}, []
    for t in tasks:  # the same type, wait step and exclusions: the same pool
        level = relax_level(t.task_type, t.queued_at, planner.now)
        kind = (t.task_type_id, level, frozenset(excluded.get(t.pk, ())))
        if kind not in by_kind:
            by_kind[kind] = planner.candidates(t, excluded.get(t.pk, set()))
        pools[t.pk] = by_kind[kind]
        kinds.append(kind)
    # A person is one column (one capacity) whatever pools they are in; their entry in a
    # kind's own pool is what scores and explains them for it (an entry holds the levels of
    # its type's skills only, and may stand in for someone on leave).
    entries: dict[tuple, Candidate] = {}
    for kind, (cands, _) in by_kind.items():
        for c in cands:
            entries.setdefault((kind, c.user_id), c)
    people = {user_id: c for (_, user_id), c in entries.items()}
    order = sorted(people)
    column = {u: j for j, u in enumerate(order)}
    # A row of scores depends on the task's kind, not on the task: score each kind once (a
    # batch of 1,000 tasks is a handful of kinds), and only its own pool.
    scores, weights = {}, {}
    for t, kind in zip(tasks, kinds, strict=True):
        if kind not in scores:
            ctx = planner.context(t.task_type)
            row: list[float | None] = [None] * len(order)
            for c in pools[t.pk][0]:
                row[column[c.user_id]] = skill_coverage(entries[(kind, c.user_id)], ctx)
            scores[kind], weights[kind] = row, t.task_type.capacity_weight
    plan = optimal.solve(kinds, [people[u] for u in order], scores, weights=weights)
    for index, person, score in plan:
        task = tasks[index]
        entry = entries[(kinds[index], person.user_id)]
        choice = Scored(entry, score, planner.context(task.task_type))
        strategy = policy_of(task_type=task.task_type).strategy
        if not _plan(task, choice, planner, pools[task.pk][1], strategy=strategy):
            _plan_greedy(task, planner, excluded.get(task.pk, set()))


def _plan(task: Task, choice: Scored, planner: Planner, level: int, *, strategy: str) -> bool:
    c = choice.candidate
    weight = task.task_type.capacity_weight
    if not c.fits(weight):
        return False
    reason = Reason.AUTO
    if c.delegated_from:
        reason = Reason.DELEGATION
    elif level >= OVERFLOW:
        reason = Reason.OVERFLOW
    explanation = choice.explanation  # as things stand when the choice is made
    planner.plan.append(Planned(task, choice, strategy, reason, explanation))
    planner.took(c.user_id, weight)
    planner.cursors[task.task_type.pk] = c.order_id
    return True


def _commit(plan: list[Planned], *, by: Actor = ENGINE) -> list[Assignment]:
    """Write the batch's hand-overs: capacity for all of them in one statement (what no
    longer fits, or whose person another worker holds, stays queued for the next run), then
    the task transitions, their history and the assignment records in bulk."""
    asks: dict[int, list] = defaultdict(list)
    for p in plan:
        asks[p.choice.candidate.user_id].append((p.task.pk, p.task.task_type.capacity_weight))
    granted = staff_take_capacity_many(requests=asks)
    done = [p for p in plan if p.task.pk in granted]
    task_services.tasks_assign_many(
        items=[(p.task, _user(p.choice.candidate.user_id),
                f"{p.reason}: {p.strategy} ({p.explanation})") for p in done],
        by=by, capacity_reserved=True,
    )
    return [_record(p.task, p.choice, strategy=p.strategy, reason=p.reason, by=by,
                    explanation=p.explanation) for p in done]


def _record(task: Task, choice: Scored, *, strategy: str, reason: str, by: Actor,
            explanation: str | None = None) -> Assignment:
    policy = policy_of(task_type=task.task_type)
    confirm = policy.requires_assignment_confirmation
    now = timezone.now()
    c = choice.candidate
    return Assignment(
        task=task, assignee_user_id=c.user_id, strategy=strategy, score=choice.score,
        explanation=choice.explanation if explanation is None else explanation,
        reason=reason, assigned_by=by.name[:150],
        delegated_from_id=c.delegated_from[0] if c.delegated_from else None,
        outcome=Outcome.PENDING if confirm else Outcome.ACCEPTED,
        expires_at=now + timedelta(seconds=policy.confirmation_timeout)
        if confirm else None,
        decided_at=None if confirm else now, created_at=now,
    )


def _user(user_id: int):
    # The transition needs a user instance; an unsaved stub with the id is enough for the FK.
    return get_user_model()(pk=user_id)


def _finish(tasks, records, planner: Planner, result: AssignResult, excluded) -> None:
    Assignment.objects.bulk_create(records)
    if records:
        emit("assignments.recorded", {"by_strategy": dict(Counter(r.strategy for r in records))})
    assigned = {r.task_id for r in records}
    Unassignable.objects.filter(task_id__in=assigned).delete()
    # Only tasks nobody could be planned for are unassignable; a planned hand-over refused
    # at commit (someone else's batch got there first) is simply tried again next run.
    planned = {p.task.pk for p in planner.plan}
    waiting = [t for t in tasks if t.pk not in planned]
    _mark_unassignable(waiting, planner, excluded)
    _save_cursors(planner, tasks)
    result.assigned, result.unassignable = len(records), len(waiting)
    result.tasks = tasks


def _save_cursors(planner: Planner, tasks: list[Task]) -> None:
    """Remember round robin's last turn per task type: one upsert, rows in a fixed order
    (two workers saving cursors for the same types then queue, they cannot deadlock, and
    neither fails inserting a cursor the other just created)."""
    round_robin = {t.task_type_id for t in tasks if _strategy_has(t.task_type, "keeps_cursor")}
    rows = [RoundRobinCursor(task_type_id=type_id, last_user_id=planner.cursors[type_id])
            for type_id in sorted(round_robin & set(planner.cursors))]
    if rows:
        RoundRobinCursor.objects.bulk_create(rows, update_conflicts=True,
                                             unique_fields=["task_type"],
                                             update_fields=["last_user_id"])


def _mark_unassignable(tasks: list[Task], planner: Planner, excluded) -> None:
    """Record why each task waits; a task seen again keeps its `since` and gets today's
    reason (who is excluded, or who has room, changes between runs)."""
    if not tasks:
        return
    now = timezone.now()
    Unassignable.objects.bulk_create(
        [Unassignable(task=t, reason=planner.why_unassignable(t, excluded.get(t.pk, set())),
                      since=now, checked_at=now) for t in tasks],
        update_conflicts=True, unique_fields=["task"], update_fields=["reason", "checked_at"],
    )


def _load_cursors(planner: Planner, tasks: list[Task]) -> None:
    type_ids = {t.task_type_id for t in tasks if _strategy_has(t.task_type, "keeps_cursor")}
    if type_ids:
        planner.cursors.update(RoundRobinCursor.objects.filter(
            task_type_id__in=type_ids).values_list("task_type_id", "last_user_id"))


def assignment_exclusions(*, task_ids) -> dict:
    """People who must not get these tasks again in their current attempt: they declined, let
    it expire, or it was taken from them (assignments_follow_task decides which
    records exclude, and a retry clears them)."""
    out: dict = defaultdict(set)
    rows = Assignment.objects.filter(task_id__in=task_ids, excludes_assignee=True).values_list(
        "task_id", "assignee_user_id")
    for task_id, user_id in rows:
        out[task_id].add(user_id)
    return out


# --- dry run ----------------------------------------------------------------------------------
def task_candidates(*, task: Task, now: datetime | None = None) -> list[Scored]:
    """Rank the pool for one task with scores and explanations, without assigning. The pool
    is people: a unit type's task has none (its units are ranked by apps.execution), and is
    answered with nobody rather than ranked by a strategy written for units."""
    if task.task_type.assignee_kind != AssigneeKind.STAFF:
        return []
    planner = Planner(now or timezone.now())
    _load_cursors(planner, [task])
    excluded = assignment_exclusions(task_ids=[task.pk]).get(task.pk, set())
    candidates, _ = planner.candidates(task, excluded)
    ctx = planner.context(task.task_type)
    strategy = get_strategy(policy_of(task_type=task.task_type).strategy)
    return strategy.rank(task, candidates, ctx)


# --- reassignment -----------------------------------------------------------------------------
def task_reassign(*, task_id, by: Actor, target=None, force: bool = False,
                  reason: str = "") -> Task:
    """Take a task back from its holder and give it to `target`, or to whoever the engine
    picks (never the previous holder). A target must qualify and have room; a manager may
    `force` past the skills and availability checks, never past capacity."""
    note = f"manual: {reason}" if reason else "manual"
    with transaction.atomic():
        task = task_services.task_lock(task_id=task_id)
        if task.status in (S.ASSIGNED, S.RUNNING, S.PAUSED):
            task = task_services.task_apply_locked(task=task, transition="requeue", by=by,
                                                   reason=note)
        elif task.status != S.QUEUED:
            raise Conflict(f"a task that is {task.status} cannot be reassigned",
                           current=task.status, allowed=task_services.allowed_actions(task=task))
        if target is None:
            transaction.on_commit(lambda: assign_queued(task_ids=[task.pk]))
            return task
        _assign_to(task, target, by=by, force=force, note=note)
    return task


def _assign_to(task: Task, target, *, by: Actor, force: bool, note: str) -> None:
    planner = Planner(timezone.now())
    pool = {c.user_id: c for c in planner.pool(task.task_type, 0)}
    candidate = pool.get(target.pk)
    if candidate is None and not force:
        raise Conflict(f"{target.get_username()} does not qualify for this task or has no room"
                       " (a manager may force it)", current=task.status)
    if candidate is None:
        from apps.staff.models import Staff

        staff = Staff.objects.filter(user=target).first()
        candidate = Candidate(user_id=target.pk, name=target.get_username(),
                              load=staff.load if staff else 0,
                              capacity=staff.capacity if staff else 10**6)
    ctx = planner.context(task.task_type)
    choice = Scored(candidate, skill_coverage(candidate, ctx), ctx,
                    note="(forced)" if force else "")
    if not task_services.task_assign_locked(task=task, user=target, by=by, reason=note):
        raise Conflict(f"{target.get_username()} has no free capacity", current=task.status)
    _record(task, choice, strategy="manual", reason=Reason.MANUAL, by=by).save()
    Unassignable.objects.filter(task=task).delete()


# --- sweeps -----------------------------------------------------------------------------------
def assignments_expire(*, now: datetime | None = None) -> int:
    """Assignments not accepted in time go back to the queue (that person excluded)."""
    now = now or timezone.now()
    due = list(Assignment.objects.filter(outcome=Outcome.PENDING, expires_at__lte=now)
               .values_list("task_id", flat=True)[:500])
    return _each(due, "expire", reason="expiry: not accepted in time")


def _each(task_ids, action: str, *, reason: str) -> int:
    """Apply `action` to each task on its own; a task that moved on meanwhile is skipped (a
    possible race: accepted, finished or cancelled between our read and its lock)."""
    done = 0
    for task_id in task_ids:
        try:
            task_services.task_transition(task_id=task_id, action=action, by=ENGINE,
                                          reason=reason)
            done += 1
        except (Conflict, Task.DoesNotExist):
            continue
    return done


def leaves_start(*, now: datetime | None = None) -> int:
    """When a leave starts, hand its person's open work back, as each task type's policy says."""
    now = now or timezone.now()
    moved = 0
    with transaction.atomic():
        leaves = list(Leave.objects.covering(now).filter(started_handled_at__isnull=True)
                      .select_for_update(skip_locked=True).select_related("staff"))
        for leave in leaves:
            moved += _requeue_for_leave(leave)
            leave_mark_started(leave=leave, at=now)
    return moved


def _requeue_for_leave(leave: Leave) -> int:
    held = Task.objects.filter(assignee_user_id=leave.staff.user_id).select_related(
        "task_type__assignment_policy")
    statuses = {LeavePolicy.REASSIGN_ALL: (S.ASSIGNED, S.RUNNING, S.PAUSED),
                LeavePolicy.REASSIGN_NOT_STARTED: (S.ASSIGNED,)}
    moved = 0
    for task in held.filter(status__in=(S.ASSIGNED, S.RUNNING, S.PAUSED)):
        leave_policy = policy_of(task_type=task.task_type).leave_policy
        if task.status not in statuses.get(leave_policy, ()):
            continue
        task_services.task_transition(
            task_id=task.pk, action="requeue", by=ENGINE, cause=Reason.LEAVE,
            reason=f"leave: {leave.staff} is on leave from {leave.start:%Y-%m-%d %H:%M}")
        moved += 1
    return moved


def tasks_requeue_timed_out(*, now: datetime | None = None) -> int:
    """People's running tasks past their type's timeout go back to the queue (a unit's are
    failed by the units sweep instead, to be retried after their backoff)."""
    now = now or timezone.now()
    running = Task.objects.filter(status=S.RUNNING, task_type__timeout__isnull=False,
                                  started_at__isnull=False,
                                  task_type__assignee_kind=AssigneeKind.STAFF).values_list(
        "pk", "started_at", "task_type__timeout")
    late = [pk for pk, started, limit in running if started + timedelta(seconds=limit) < now]
    return _each(late, "requeue", reason="timeout: running past its type's timeout")


# --- keeping records in step with the task (a transition listener, apps.assignment.hooks) ----
# What a transition that takes a task from its holder makes of the open assignment.
RELEASE_OUTCOMES = {
    T.DECLINE: Outcome.DECLINED,
    T.EXPIRE: Outcome.EXPIRED,
    T.REQUEUE: Outcome.REVOKED,
    T.CANCEL: Outcome.REVOKED,
}
# Taking a task from someone keeps it from going straight back to them, except when the task
# itself ended (cancel) or they are away (leave): neither says they should not have it.
EXCLUDING_TRANSITIONS = {T.DECLINE, T.EXPIRE, T.REQUEUE}


def assignments_follow_task(change: Change) -> None:
    """Runs inside the transition's transaction, so the record never disagrees with the task."""
    if change.unit_before is not None or change.unit_after is not None:
        return  # a unit's work: the engine never handed it over, it keeps no record of it
    now = timezone.now()
    if change.transition in (T.ACCEPT, T.START) and change.from_status == S.ASSIGNED:
        Assignment.objects.filter(task=change.task, outcome=Outcome.PENDING).update(
            outcome=Outcome.ACCEPTED, decided_at=now)
        return
    if _begins_new_attempt(change):
        # Exclusions belong to the attempt they were earned in.
        Assignment.objects.filter(task=change.task, excludes_assignee=True).update(
            excludes_assignee=False)
    if change.from_status == S.QUEUED and change.transition != T.ASSIGN:
        # Left the queue some other way (cancelled…): no longer waiting for anyone. Bulk
        # hand-overs clear their own rows in one statement (_finish).
        Unassignable.objects.filter(task=change.task).delete()
    if change.before is None or change.after == change.before:
        return
    outcome = RELEASE_OUTCOMES.get(change.transition, Outcome.FINISHED)
    Assignment.objects.filter(
        task=change.task, assignee_user_id=change.before, outcome__in=OPEN_OUTCOMES
    ).update(outcome=outcome, outcome_reason=change.reason[:200], decided_at=now,
             excludes_assignee=_excludes(change))


def _begins_new_attempt(change: Change) -> bool:
    """A retry, by hand or scheduled after a failure, starts the task afresh."""
    return change.transition == T.RETRY or (
        change.transition == T.FAIL and change.task.status == S.SCHEDULED)


def _excludes(change: Change) -> bool:
    return change.transition in EXCLUDING_TRANSITIONS and change.cause != Reason.LEAVE


def tasks_assign_dispatched(task_ids) -> None:
    """The staff dispatcher (apps.tasks.dispatch): queued staff work, assigned now."""
    assign_queued(task_ids=task_ids)


# --- policies ---------------------------------------------------------------------------------
POLICY_FIELDS = frozenset(
    f.name for f in AssignmentPolicy._meta.concrete_fields if f.name != "task_type")


def assignment_policy_set(*, task_type: TaskType, by: Actor, **values) -> AssignmentPolicy:
    """Set how a type's work is assigned: the given fields, the rest as they are (or the
    defaults, for a type without a row yet). Called by the task type services inside their
    transaction (apps.assignment.hooks) and by the admin's policy inline."""
    unknown = sorted(set(values) - POLICY_FIELDS)
    if unknown:
        raise InvalidInput(fields={name: ["Not an assignment policy field."] for name in unknown})
    if "strategy" in values and strategy_class(values["strategy"]) is None:
        raise InvalidInput(fields={"strategy": [unknown_strategy_message(values["strategy"])]})
    with transaction.atomic():
        policy = (AssignmentPolicy.objects.select_for_update().filter(task_type=task_type).first()
                  or AssignmentPolicy(task_type=task_type,
                                      strategy=default_strategy_for(task_type.assignee_kind)))
        assignment_policy_check(task_type=task_type,
                                strategy=values.get("strategy", policy.strategy),
                                params=values.get("strategy_params", policy.strategy_params))
        for name, value in values.items():
            setattr(policy, name, value)
        policy.save()
    task_type.assignment_policy = policy  # what the caller reads next (the API's answer)
    return policy


def assignment_policy_check(*, task_type: TaskType, strategy: str | None = None,
                            params: Any = None) -> None:
    """Refuse a policy that cannot route the type's work (its `assignee_kind`): a staff-only
    strategy (skills, seniority…) on a type done by units, a unit-only one (reported
    health…) on a type done by staff, or `strategy_params` the kind's router cannot read
    (strategies.register_params_check). `strategy` and `params` are those about to be set,
    else the type's current ones: a change of the type's kind is checked as well (the task
    type services call this through apps.assignment.hooks after every save)."""
    current = policy_of(task_type=task_type)
    strategy = strategy if strategy is not None else current.strategy
    params = params if params is not None else current.strategy_params
    errors: dict[str, list[str]] = {}
    refusal = check_strategy_kind(strategy, kind=task_type.assignee_kind)
    if refusal is not None:
        errors["strategy"] = [refusal]
    if wrong := check_strategy_params(params, kind=task_type.assignee_kind):
        errors["strategy_params"] = wrong
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)
