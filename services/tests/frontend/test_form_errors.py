"""What the backend refuses is shown beside the field concerned, with the input kept."""

from __future__ import annotations

from html import unescape as html_unescape

import httpx

from tests.frontend.conftest import PASSWORD, Visitor, stored_tasks


def field_error(html: str, field: str) -> str:
    marker = f'<p class="error" id="{field}-error">'
    assert marker in html, f"no message beside {field}"
    return html_unescape(html.split(marker, 1)[1].split("</p>", 1)[0])


def test_a_too_short_username_is_explained_beside_it(visitor: Visitor) -> None:
    answer = visitor.submit(
        "/signup", "/signup", username="ab", password=PASSWORD, confirm=PASSWORD
    )
    assert answer.status_code == 422
    assert field_error(answer.text, "username") == "Must have at least 3 characters."
    assert 'value="ab"' in answer.text  # kept
    assert PASSWORD not in answer.text  # never sent back


def test_a_username_with_spaces_gets_the_allowed_characters(visitor: Visitor) -> None:
    answer = visitor.submit(
        "/signup", "/signup", username="a b c", password=PASSWORD, confirm=PASSWORD
    )
    assert field_error(answer.text, "username") == "Use only letters, digits, '.', '_' and '-'."


def test_a_short_password_and_a_mismatch(visitor: Visitor) -> None:
    short = visitor.submit(
        "/signup", "/signup", username="someone", password="short", confirm="short"
    )
    assert field_error(short.text, "password") == "Must have at least 8 characters."
    differ = visitor.submit(
        "/signup", "/signup", username="someone", password=PASSWORD, confirm=PASSWORD + "!"
    )
    assert differ.status_code == 422
    assert field_error(differ.text, "confirm").startswith("The two passwords differ.")


def test_a_taken_username(member: Visitor, make_visitor) -> None:
    other = make_visitor()
    answer = other.submit(
        "/signup", "/signup", username=member.username, password=PASSWORD, confirm=PASSWORD
    )
    assert answer.status_code == 409
    assert field_error(answer.text, "username") == "This username is taken. Choose another one."


def test_a_wrong_password_keeps_the_username(member: Visitor) -> None:
    member.submit("/tasks", "/signout")
    answer = member.submit("/signin", "/signin", username=member.username, password="not it at all")
    assert answer.status_code == 401
    assert "Wrong username or password." in answer.text
    assert f'value="{member.username}"' in answer.text


def test_a_task_without_title_or_with_a_long_one(member: Visitor, api: httpx.Client) -> None:
    blank = member.add("", "the description stays")
    assert blank.status_code == 422
    assert field_error(blank.text, "title") == "This field is required."
    assert "the description stays" in blank.text
    long = member.add("x" * 201)
    assert field_error(long.text, "title") == "Must have at most 200 characters."
    assert stored_tasks(api, member.username) == []


def test_an_edit_that_clears_the_title(member: Visitor, api: httpx.Client) -> None:
    member.add("keep me")
    [task] = stored_tasks(api, member.username)
    form = f"/tasks/{task['id']}/edit"
    answer = member.submit(form, form, title="  ", description="typed")
    assert answer.status_code == 422
    assert field_error(answer.text, "title") == "This field is required."
    assert stored_tasks(api, member.username)[0]["title"] == "keep me"
