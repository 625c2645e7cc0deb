"""The pages in a real browser: signing in, working a task, approving it, and an outsider
who sees neither the page nor its buttons. Screenshots of every page are kept."""

from __future__ import annotations

import pytest

from apps.approvals.models import ApprovalRequest
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import make_task_type, task_in_state

pytestmark = pytest.mark.django_db(transaction=True)
S = TaskStatus


@pytest.fixture
def work(rita, alice):
    """A task waiting for alice, and some others around it, as a team has them."""
    review = make_task_type("report", requires_completion_approval=True)
    plain = make_task_type("triage")
    task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=plain, progress=30,
                  title="Triage the inbox")
    task_in_state(S.QUEUED, creator=rita, task_type=plain, title="Label new tickets")
    task_in_state(S.COMPLETED, creator=rita, assignee=alice, task_type=plain,
                  title="Rotate the keys")
    return task_in_state(S.ASSIGNED, creator=rita, assignee=alice, task_type=review,
                         title="Write the quarterly report")


def test_signing_in_and_every_page(site, sign_in, shoot, browser, alice, work):
    anonymous = browser.new_page()
    anonymous.goto(f"{site.url}/tasks/")
    assert anonymous.url == f"{site.url}/login/?next=/tasks/"
    shoot(anonymous, "01-sign-in")
    anonymous.close()

    page = sign_in(alice)
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    shoot(page, "02-dashboard-staff")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Tasks", exact=True).click()
    assert page.get_by_role("link", name="Write the quarterly report").is_visible()
    shoot(page, "03-tasks")
    page.get_by_label("Search").fill("quarterly")
    page.get_by_role("button", name="Show").click()
    assert page.locator("tbody tr").count() == 1
    page.get_by_role("link", name="Write the quarterly report").click()
    assert page.locator("#task-status").inner_text() == "Assigned"
    shoot(page, "04-task")
    nav.get_by_role("link", name="My tasks").click()
    shoot(page, "05-my-tasks")
    nav.get_by_role("link", name="Approvals").click()
    shoot(page, "06-approvals-staff")


def test_the_layout_fits_a_phone_and_starts_with_the_skip_link(site, sign_in, shoot,
                                                                alice, work):
    page = sign_in(alice, viewport={"width": 375, "height": 740})
    for path, name in [("/tasks/", "07-phone-tasks"), ("/my/tasks/", "08-phone-my-tasks")]:
        page.goto(f"{site.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways on a phone: {width}px"
        shoot(page, name)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_staff_works_a_task_and_a_manager_approves_it(site, sign_in, shoot, alice,
                                                      margaret, work):
    page = sign_in(alice)
    page.goto(f"{site.url}/my/tasks/")
    card = page.locator("article", has_text="Write the quarterly report")
    card.get_by_role("button", name="Accept").click()
    assert "Done: accept." in page.locator(".messages").inner_text()
    card = page.locator("article", has_text="Write the quarterly report")
    card.get_by_label("Progress (%)").fill("80")
    card.get_by_role("button", name="Report progress").click()
    card = page.locator("article", has_text="Write the quarterly report")
    card.get_by_label("Log line").fill("figures checked twice")
    card.get_by_role("button", name="Add to log").click()
    card = page.locator("article", has_text="Write the quarterly report")
    shoot(page, "09-my-tasks-running")
    card.get_by_role("button", name="Submit").click()
    assert "Done: submit." in page.locator(".messages").inner_text()
    work.refresh_from_db()
    assert (work.status, work.progress) == (S.IN_REVIEW, 80)

    manager = sign_in(margaret)
    shoot(manager, "10-dashboard-manager")
    manager.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    request = manager.locator("article", has_text="Write the quarterly report")
    request.get_by_label("Comment").fill("Clear and on time.")
    shoot(manager, "11-approvals-manager")
    request.get_by_role("button", name="Approve").click()
    assert "approved" in manager.locator(".messages").inner_text()
    assert manager.locator("article", has_text="Write the quarterly report").count() == 0

    work.refresh_from_db()
    decided = ApprovalRequest.objects.get(task=work)
    assert work.status == S.COMPLETED
    assert (decided.decider, decided.comment) == (margaret, "Clear and on time.")
    manager.goto(f"{site.url}/tasks/{work.pk}/")
    assert manager.locator("#task-status").inner_text() == "Completed"
    assert "figures checked twice" in manager.locator(".log").inner_text()
    shoot(manager, "12-task-completed")


def test_an_outsider_sees_neither_the_page_nor_the_buttons(site, sign_in, shoot,
                                                           mallory, alice, work):
    in_review = task_in_state(S.IN_REVIEW, creator=alice, assignee=alice,
                              task_type=work.task_type, title="Someone else's review")
    page = sign_in(mallory)

    page.goto(f"{site.url}/tasks/{work.pk}/")
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert page.locator("button[name=action]").count() == 0
    shoot(page, "13-outsider-task")
    page.goto(f"{site.url}/tasks/")
    assert page.get_by_text("No tasks match.").is_visible()
    page.goto(f"{site.url}/approvals/")
    assert page.get_by_text("Someone else's review").count() == 0
    assert page.locator("button[name=decision]").count() == 0
    assert Task.objects.get(pk=in_review.pk).status == S.IN_REVIEW
