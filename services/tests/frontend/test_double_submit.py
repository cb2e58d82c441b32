"""The add form's Idempotency-Key: a double click or a browser retry creates one task."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.frontend.conftest import Visitor, stored_tasks


def _form(visitor: Visitor, title: str) -> dict[str, str]:
    html = visitor.page("/tasks").text
    return {
        "csrf_token": visitor.hidden(html, "csrf_token"),
        "idempotency_key": visitor.hidden(html, "idempotency_key"),
        "title": title,
    }


def test_the_same_form_sent_twice_creates_one_task(member: Visitor, api: httpx.Client) -> None:
    form = _form(member, "only once")
    first = member.http.post("/tasks", data=form)
    retry = member.http.post("/tasks", data=form)  # the browser's retry, or "resubmit form?"
    assert first.status_code == retry.status_code == 303
    assert [t["title"] for t in stored_tasks(api, member.username)] == ["only once"]


def test_a_double_click_sends_both_at_once_and_creates_one_task(
    member: Visitor, api: httpx.Client
) -> None:
    form = _form(member, "clicked twice")
    cookies = dict(member.http.cookies)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda _: httpx.post(
                    member.http.base_url.join("/tasks"), data=form, cookies=cookies, timeout=20
                ),
                range(2),
            )
        )
    assert [a.status_code for a in answers] == [303, 303]
    assert [t["title"] for t in stored_tasks(api, member.username)] == ["clicked twice"]


def test_each_rendered_form_adds_its_own_task(member: Visitor, api: httpx.Client) -> None:
    member.add("same title")
    member.add("same title")  # two forms, two keys: the user meant two tasks
    assert len(stored_tasks(api, member.username)) == 2


@pytest.mark.parametrize("key", ["ключ-1", "two words", "x" * 256])
def test_a_key_that_is_no_idempotency_key_is_replaced_by_a_new_one(
    member: Visitor, api: httpx.Client, key: str
) -> None:
    form = {**_form(member, "still added"), "idempotency_key": key}
    answer = member.http.post("/tasks", data=form)
    assert answer.status_code == 303
    assert [t["title"] for t in stored_tasks(api, member.username)] == ["still added"]


def test_a_kept_key_sent_with_changed_text_gets_a_new_key_and_a_banner(
    member: Visitor, api: httpx.Client
) -> None:
    # As after a timeout: the form comes back with its key, the first send was stored, and
    # the user changes the title before sending it again.
    form = _form(member, "first wording")
    assert member.http.post("/tasks", data=form).status_code == 303
    changed = member.http.post("/tasks", data={**form, "title": "second wording"})
    assert changed.status_code == 422
    assert "This form was already sent with other text" in changed.text
    assert 'id="title-error"' not in changed.text  # not the title's fault
    assert 'value="second wording"' in changed.text
    new_key = member.hidden(changed.text, "idempotency_key")
    assert new_key != form["idempotency_key"]
    again = {**form, "title": "second wording", "idempotency_key": new_key}
    assert member.http.post("/tasks", data=again).status_code == 303
    titles = sorted(t["title"] for t in stored_tasks(api, member.username))
    assert titles == ["first wording", "second wording"]
