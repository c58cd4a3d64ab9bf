"""The body budget: what a process holds of request bodies at once is bounded, and given back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from webhook.server.limits import BodyBudget, read_body, RequestRefused


def receiver(chunks: list[bytes]) -> Any:
    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


def read(chunks: list[bytes], budget: BodyBudget, limit: int = 100, headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    return asyncio.run(read_body({"headers": headers or []}, receiver(chunks), limit, 5, budget))


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
