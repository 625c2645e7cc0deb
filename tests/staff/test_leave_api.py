"""Leave: a person requests their own, their manager and admins manage it, nobody else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.staff.models import Leave
from tests.builders import api_client, make_leave, make_user

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def period(days_from_now: int, days: int) -> dict:
    start = NOW + timedelta(days=days_from_now)
    return {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()}


def leaves_url(staff) -> str:
    return f"/api/v1/staff/{staff.pk}/leaves"


class TestOwnLeave:
    def test_a_person_requests_lists_edits_and_cancels_their_leave(self, alice, rita):
        client = api_client(alice)
        resp = client.post(leaves_url(alice.staff), {**period(3, 5), "reason": "holiday",
                                               "substitute": rita.staff.pk})
        assert resp.status_code == 201, resp.data
        body = resp.json()
        assert (body["staff"], body["reason"], body["substitute"], body["substitute_username"]
                ) == (alice.staff.pk, "holiday", rita.staff.pk, "rita")
        listed = client.get(leaves_url(alice.staff)).json()
        assert [row["id"] for row in listed["results"]] == [body["id"]]
        url = f"{leaves_url(alice.staff)}/{body['id']}"
        resp = client.patch(url, {"reason": "family", "substitute": None})
        assert resp.status_code == 200 and resp.json()["reason"] == "family"
        assert resp.json()["substitute"] is None
        assert client.get(url).json()["reason"] == "family"
        assert client.delete(url).status_code == 204
        assert not Leave.objects.exists()

    def test_leaves_are_listed_by_start(self, alice):
        later = make_leave(alice.staff, days_from_now=20)
        sooner = make_leave(alice.staff, days_from_now=2)
        rows = api_client(alice).get(leaves_url(alice.staff)).json()["results"]
        assert [r["id"] for r in rows] == [sooner.pk, later.pk]


class TestValidation:
    @pytest.mark.parametrize("data,field", [
        ({"start": NOW.isoformat(), "end": NOW.isoformat()}, "end"),
        ({**period(3, 1), "end": (NOW + timedelta(days=1)).isoformat()}, "end"),
        ({"end": NOW.isoformat()}, "start"),
        ({"start": NOW.isoformat()}, "end"),
        ({**period(1, 1), "start": "next week"}, "start"),
        ({**period(1, 1), "substitute": 999999}, "substitute"),
        ({**period(1, 1), "reason": "x" * 201}, "reason"),
        ({**period(1, 1), "staff": 1}, "staff"),
        ({**period(1, 1), "started_handled_at": NOW.isoformat()}, "started_handled_at"),
    ])
    def test_bad_requests_are_a_400_naming_the_field(self, alice, data, field):
        resp = api_client(alice).post(leaves_url(alice.staff), data)
        assert resp.status_code == 400 and field in resp.json(), resp.data
        assert not Leave.objects.exists()

    def test_a_person_is_not_their_own_substitute(self, alice):
        resp = api_client(alice).post(leaves_url(alice.staff), {**period(1, 1),
                                                                "substitute": alice.staff.pk})
        assert resp.status_code == 400 and "substitute" in resp.json()

    def test_overlapping_leaves_are_refused(self, alice):
        existing = make_leave(alice.staff, days_from_now=5, days=5)
        resp = api_client(alice).post(leaves_url(alice.staff), period(8, 5))
        assert resp.status_code == 400 and str(existing.pk) in resp.json()["start"][0]
        assert Leave.objects.count() == 1
        assert api_client(alice).post(leaves_url(alice.staff), period(11, 2)).status_code == 201

    def test_editing_a_leave_keeps_it_consistent(self, alice):
        leave = make_leave(alice.staff, days_from_now=5, days=5)
        other = make_leave(alice.staff, days_from_now=20, days=2)
        client, url = api_client(alice), f"{leaves_url(alice.staff)}/{leave.pk}"
        resp = client.patch(url, {"end": (leave.start - timedelta(hours=1)).isoformat()})
        assert resp.status_code == 400 and "end" in resp.json()
        resp = client.patch(url, {"end": (other.start + timedelta(hours=1)).isoformat()})
        assert resp.status_code == 400 and "start" in resp.json()
        resp = client.patch(url, {"start": (leave.start + timedelta(days=1)).isoformat()})
        assert resp.status_code == 200  # overlapping itself is fine

    def test_unknown_leaves_and_people_are_a_404(self, alice, bob):
        other = make_leave(bob.staff)
        client = api_client(alice)
        assert client.patch(f"{leaves_url(alice.staff)}/999999", {"reason": "x"}).status_code == 404
        assert client.get("/api/v1/staff/999999/leaves").status_code == 404
        # Someone else's leave under my own record is not found either.
        assert client.delete(f"{leaves_url(alice.staff)}/{other.pk}").status_code == 404
        assert Leave.objects.filter(pk=other.pk).exists()


class TestWhoMay:
    def test_a_colleague_may_not_read_or_touch_another_persons_leave(self, alice, rita):
        leave = make_leave(alice.staff, days_from_now=2)
        client = api_client(rita)
        assert client.get(leaves_url(alice.staff)).status_code == 403
        assert client.post(leaves_url(alice.staff), period(40, 1)).status_code == 403
        url = f"{leaves_url(alice.staff)}/{leave.pk}"
        assert client.patch(url, {"reason": "hacked"}).status_code == 403
        assert client.delete(url).status_code == 403
        leave.refresh_from_db()
        assert leave.reason == ""

    def test_the_team_manager_manages_their_members_leave(self, margaret, alice):
        client = api_client(margaret)
        resp = client.post(leaves_url(alice.staff), period(1, 2))
        assert resp.status_code == 201
        url = f"{leaves_url(alice.staff)}/{resp.json()['id']}"
        assert client.patch(url, {"reason": "approved"}).status_code == 200
        assert client.delete(url).status_code == 204

    def test_another_teams_manager_may_not(self, sam, alice):
        leave = make_leave(alice.staff)
        assert api_client(sam).post(leaves_url(alice.staff), period(30, 1)).status_code == 403
        assert api_client(sam).delete(f"{leaves_url(alice.staff)}/{leave.pk}").status_code == 403

    def test_an_admin_manages_anyones_leave(self, olga, bob):
        resp = api_client(olga).post(leaves_url(bob.staff), period(1, 2))
        assert resp.status_code == 201

    def test_a_user_without_a_staff_record_may_not_file_leave_for_others(self, alice):
        outsider = make_user("outsider")
        assert api_client(outsider).post(leaves_url(alice.staff), period(1, 1)).status_code == 403

    def test_anonymous_is_a_401(self, alice):
        assert api_client().get(leaves_url(alice.staff)).status_code == 401
        assert api_client().post(leaves_url(alice.staff), period(1, 1)).status_code == 401
