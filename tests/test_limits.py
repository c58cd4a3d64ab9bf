"""Request limits: the body budget bounds what a process holds at once; late bodies are cut off."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from webhook.core.errors import RequestRefused
from webhook.server.limits import BodyBudget, BodyDeadlines, read_body


def receiver(chunks: list[bytes]) -> Any:
    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


def read(chunks: list[bytes], budget: BodyBudget, limit: int = 100, headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    return asyncio.run(read_body({"headers": headers or []}, receiver(chunks), limit, BodyDeadlines(5), budget))


def test_a_body_within_limit_and_budget_is_read_whole_and_the_budget_given_back() -> None:
    budget = BodyBudget(150)
    assert read([b"a" * 40, b"b" * 40], budget) == b"a" * 40 + b"b" * 40
    assert budget.used == 0


def test_the_budget_refuses_what_other_requests_already_hold() -> None:
    budget = BodyBudget(150)
    budget.take(120)  # another request is mid-way through a large body
    with pytest.raises(RequestRefused) as refused:
        read([b"a" * 20, b"b" * 20], budget)
    assert refused.value.status == 413 and "in flight" in refused.value.message
    assert budget.used == 120  # what this request took is given back


@pytest.mark.parametrize(("headers", "status"), [([(b"content-length", b"101")], 413), ([(b"content-length", b"ten")], 400)])
def test_the_declared_length_is_judged_before_reading(headers: list[tuple[bytes, bytes]], status: int) -> None:
    budget = BodyBudget(1000)
    with pytest.raises(RequestRefused) as refused:
        read([b"x"], budget, headers=headers)
    assert refused.value.status == status and budget.used == 0


def test_a_chunked_body_over_the_limit_is_refused_without_being_held() -> None:
    budget = BodyBudget(1000)
    with pytest.raises(RequestRefused) as refused:
        read([b"a" * 60, b"b" * 60], budget)
    assert refused.value.status == 413 and budget.used == 0


async def _read_with_sweeper(receive: Any, deadlines: BodyDeadlines) -> tuple[bytes | RequestRefused, float]:
    async def sweep_forever() -> None:
        while True:
            await asyncio.sleep(deadlines.interval)
            deadlines.sweep(time.monotonic())

    sweeper = asyncio.create_task(sweep_forever())
    started = time.monotonic()
    try:
        return await read_body({"headers": []}, receive, 100, deadlines, BodyBudget(1000)), time.monotonic() - started
    except RequestRefused as refused:
        return refused, time.monotonic() - started
    finally:
        sweeper.cancel()


async def never() -> dict[str, Any]:
    """A receive() whose body never comes."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def test_a_body_that_never_arrives_is_refused_408_between_the_timeout_and_one_sweep_later() -> None:
    deadlines = BodyDeadlines(0.3, interval=0.05)
    refused, took = asyncio.run(_read_with_sweeper(never, deadlines))
    assert isinstance(refused, RequestRefused) and refused.status == 408, refused
    assert 0.3 <= took < 0.3 + 0.05 + 0.2
    assert deadlines.pending == {} and deadlines.expired == set()


def test_a_body_in_time_is_not_cut_off_and_leaves_no_deadline_behind() -> None:
    async def slow_but_in_time() -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    deadlines = BodyDeadlines(0.3, interval=0.05)
    body, _ = asyncio.run(_read_with_sweeper(slow_but_in_time, deadlines))
    assert body == b"{}" and deadlines.pending == {}


@pytest.mark.parametrize("deadline_passed_too", [False, True], ids=["shutdown", "shutdown-as-the-deadline-passes"])
def test_a_cancellation_that_is_not_only_the_deadline_still_cancels(deadline_passed_too: bool) -> None:
    async def main() -> None:
        deadlines = BodyDeadlines(10)
        reading = asyncio.create_task(read_body({"headers": []}, never, 100, deadlines, BodyBudget(1000)))
        await asyncio.sleep(0.01)
        if deadline_passed_too:
            deadlines.sweep(time.monotonic() + 60)
        reading.cancel()  # as the server does at shutdown, here in the same turn of the loop as the sweep
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert deadlines.pending == {} and deadlines.expired == set()

    asyncio.run(main())
