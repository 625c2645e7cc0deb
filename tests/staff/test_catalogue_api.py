"""Skills and teams: everyone reads them, admins define them, bad input is a 400."""

from __future__ import annotations

import pytest

from apps.staff.models import Skill, Team
from tests.builders import api_client, make_skill, make_task_type, make_team, require

pytestmark = pytest.mark.django_db


class TestSkills:
    def test_an_admin_creates_reads_updates_and_deletes_a_skill(self, olga):
        client = api_client(olga)
        resp = client.post("/api/v1/skills", {"name": "python", "description": "3.12"})
        assert resp.status_code == 201, resp.data
        url = f"/api/v1/skills/{resp.json()['id']}"
        assert client.get(url).json() == {"id": resp.json()["id"], "name": "python",
                                          "description": "3.12"}
        assert client.patch(url, {"description": "3.13"}).json()["description"] == "3.13"
        assert client.put(url, {"name": "py"}).json()["name"] == "py"
        assert client.delete(url).status_code == 204
        assert not Skill.objects.exists()

    @pytest.mark.parametrize("data,field", [
        ({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 101}, "name"),
        ({"name": "python"}, "name"), ({"name": "go", "level": 3}, "level"),
    ])
    def test_bad_skills_are_a_400_naming_the_field(self, olga, data, field):
        make_skill("python")
        resp = api_client(olga).post("/api/v1/skills", data)
        assert resp.status_code == 400 and field in resp.json()
        assert Skill.objects.count() == 1

    def test_everyone_reads_skills_but_only_admins_write_them(self, alice, margaret):
        for user in (alice, margaret):
            client = api_client(user)
            assert client.get("/api/v1/skills").json()["count"] == 2  # python, sql
            assert client.post("/api/v1/skills", {"name": "go"}).status_code == 403
            skill = Skill.objects.get(name="python")
            assert client.delete(f"/api/v1/skills/{skill.pk}").status_code == 403

    def test_anonymous_is_a_401(self):
        assert api_client().get("/api/v1/skills").status_code == 401

    def test_unknown_skill_is_a_404(self, olga):
        assert api_client(olga).get("/api/v1/skills/999999").status_code == 404

    def test_a_skill_task_types_require_cannot_be_deleted(self, olga):
        require(make_task_type(), {"python": 3})
        skill = Skill.objects.get(name="python")
        resp = api_client(olga).delete(f"/api/v1/skills/{skill.pk}")
        assert resp.status_code == 409
        assert Skill.objects.filter(pk=skill.pk).exists()


class TestTeams:
    def test_an_admin_creates_a_team_with_a_manager_and_a_parent(self, olga, margaret):
        parent = make_team("engineering")
        resp = api_client(olga).post("/api/v1/teams", {
            "name": "platform", "manager": margaret.pk, "parent": parent.pk})
        assert resp.status_code == 201, resp.data
        team = Team.objects.get(pk=resp.json()["id"])
        assert (team.manager, team.parent) == (margaret, parent)

    def test_an_admin_renames_moves_and_deletes_a_team(self, olga, platform, alice):
        client, url = api_client(olga), f"/api/v1/teams/{platform.pk}"
        other = make_team("engineering")
        resp = client.patch(url, {"name": "core", "parent": other.pk, "manager": None})
        assert resp.json() == {"id": platform.pk, "name": "core", "manager": None,
                               "parent": other.pk}
        assert client.delete(url).status_code == 204
        alice.staff.refresh_from_db()
        assert alice.staff.team is None  # people stay, team-less

    @pytest.mark.parametrize("data,field", [
        ({}, "name"), ({"name": "platform"}, "name"), ({"name": "x", "manager": 999999},
                                                        "manager"),
        ({"name": "x", "parent": 999999}, "parent"), ({"name": "x", "members": []}, "members"),
    ])
    def test_bad_teams_are_a_400_naming_the_field(self, olga, platform, data, field):
        resp = api_client(olga).post("/api/v1/teams", data)
        assert resp.status_code == 400 and field in resp.json()
        assert sorted(Team.objects.values_list("name", flat=True)) == ["division", "platform"]

    def test_a_team_cannot_be_inside_itself_even_through_its_children(self, olga, platform,
                                                                      division):
        child = make_team("child", parent=platform)
        client = api_client(olga)
        for parent in (platform, child):
            resp = client.patch(f"/api/v1/teams/{platform.pk}", {"parent": parent.pk})
            assert resp.status_code == 400 and "parent" in resp.json()
        platform.refresh_from_db()
        assert platform.parent == division

    def test_teams_filter_by_manager_and_parent_and_an_unknown_id_finds_none(
            self, alice, margaret, platform, division):
        platform.manager = margaret
        platform.save(update_fields=["manager"])
        client = api_client(alice)

        def names(query):
            resp = client.get(f"/api/v1/teams?{query}")
            assert resp.status_code == 200, resp.json()
            return [t["name"] for t in resp.json()["results"]]

        assert names(f"manager={margaret.pk}") == ["platform"]
        assert names(f"parent={division.pk}") == ["platform"]
        assert names("manager=999999") == [] and names("parent=999999") == []
        for bad in ("manager=x", "parent=0", "parent=1.5"):
            resp = client.get(f"/api/v1/teams?{bad}")
            assert resp.status_code == 400 and bad.split("=")[0] in resp.json()

    def test_a_manager_reads_teams_but_does_not_create_or_edit_them(self, margaret, platform):
        client = api_client(margaret)
        assert client.get("/api/v1/teams").json()["count"] == 2  # platform and its division
        assert client.post("/api/v1/teams", {"name": "mine"}).status_code == 403
        assert client.patch(f"/api/v1/teams/{platform.pk}", {"name": "x"}).status_code == 403

    def test_anonymous_is_a_401_and_unknown_team_a_404(self, olga):
        assert api_client().get("/api/v1/teams").status_code == 401
        assert api_client(olga).get("/api/v1/teams/999999").status_code == 404
