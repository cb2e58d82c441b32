"""A person's journey through the pages, each step checked in the stored data too."""

from __future__ import annotations

import re

import httpx

from tests.frontend.conftest import PASSWORD, Visitor, stored_tasks


def test_sign_up_signs_in_and_lands_on_the_empty_list(visitor: Visitor) -> None:
    answer = visitor.sign_up()
    assert answer.status_code == 303 and answer.headers["location"] == "/tasks"
    page = visitor.page("/tasks")
    assert page.status_code == 200
    assert f"Welcome, {visitor.username}!" in page.text
    assert "No tasks yet" in page.text
    assert f"Signed in as <strong>{visitor.username}</strong>" in page.text


def test_sign_out_then_sign_in_again(member: Visitor) -> None:
    out = member.submit("/tasks", "/signout")
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert member.page("/tasks").headers["location"] == "/signin"  # signed out: no list
    back = member.submit("/signin", "/signin", username=member.username, password=PASSWORD)
    assert back.status_code == 303 and back.headers["location"] == "/tasks"
    assert member.page("/tasks").status_code == 200


def test_a_list_asked_for_while_signed_out_opens_after_sign_in(member: Visitor) -> None:
    member.submit("/tasks", "/signout")
    member.page("/tasks?status=open")
    back = member.submit("/signin", "/signin", username=member.username, password=PASSWORD)
    assert back.headers["location"] == "/tasks?status=open"


def test_add_edit_complete_delete_reach_the_stored_data(member: Visitor, api: httpx.Client) -> None:
    added = member.add("Buy milk", "two litres")
    assert added.status_code == 303
    [task] = stored_tasks(api, member.username)
    assert (task["title"], task["description"], task["completed"]) == (
        "Buy milk",
        "two litres",
        False,
    )
    assert "Added “Buy milk”." in member.page("/tasks").text

    edit_form = f"/tasks/{task['id']}/edit"
    assert 'value="Buy milk"' in member.page(edit_form).text
    saved = member.submit(edit_form, edit_form, title="Buy oat milk", description="")
    assert saved.status_code == 303
    [task] = stored_tasks(api, member.username)
    assert (task["title"], task["description"]) == ("Buy oat milk", None)

    done = member.submit("/tasks", f"/tasks/{task['id']}/complete", title=task["title"])
    assert done.status_code == 303
    assert stored_tasks(api, member.username)[0]["completed"] is True
    assert 'class="task done"' in member.page("/tasks").text

    deleted = member.submit("/tasks", f"/tasks/{task['id']}/delete", title=task["title"])
    assert deleted.status_code == 303
    assert stored_tasks(api, member.username) == []
    assert "Deleted “Buy oat milk”." in member.page("/tasks").text


def test_the_list_pages_and_filters(member: Visitor) -> None:
    for n in range(12):  # the suite's page size is 10
        member.add(f"task {n:02}")
    first = member.page("/tasks").text
    assert "Page 1 of 2 (12 tasks)" in first
    assert len(re.findall(r'<li class="task', first)) == 10
    second = member.page("/tasks?page=2").text
    assert len(re.findall(r'<li class="task', second)) == 2
    assert 'rel="prev"' in second and 'rel="next"' not in second
    past_the_end = member.page("/tasks?page=9")
    assert past_the_end.status_code == 303 and past_the_end.headers["location"] == "/tasks?page=2"
    assert "No tasks here." in member.page("/tasks?status=completed").text


def test_a_task_deleted_twice_says_so(member: Visitor, api: httpx.Client) -> None:
    member.add("once")
    [task] = stored_tasks(api, member.username)
    member.submit("/tasks", f"/tasks/{task['id']}/delete", title="once")
    again = member.submit("/tasks", f"/tasks/{task['id']}/delete", title="once")
    assert again.status_code == 303
    assert "That task was already deleted." in member.page("/tasks").text


def test_an_unknown_page_and_task_are_pages_not_errors(member: Visitor) -> None:
    missing = member.page("/nowhere")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert member.page("/tasks/not-a-number/edit").status_code == 404
    gone = member.page("/tasks/2147483647/edit")
    assert gone.status_code == 303
    assert "That task no longer exists." in member.page("/tasks").text


def test_a_page_number_past_what_the_backend_accepts_goes_to_the_last_page(
    member: Visitor,
) -> None:
    member.add("the only task")
    for page in ("300000000", "2147483647", "99999999999999999999"):
        answer = member.page(f"/tasks?page={page}&status=open")
        assert answer.status_code == 303, page
        assert answer.headers["location"] == "/tasks?status=open", page


def test_an_add_refused_on_a_later_page_comes_back_on_that_page(member: Visitor) -> None:
    for n in range(12):  # the suite's page size is 10
        member.add(f"task {n:02}")
    html = member.page("/tasks?page=2&status=open").text
    add_form = html.split('action="/tasks" class="add">', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', add_form))
    assert fields["page"] == "2" and fields["status"] == "open"
    refused = member.http.post("/tasks", data={**fields, "title": ""})
    assert refused.status_code == 422
    assert "Page 2 of 2 (12 tasks)" in refused.text
