"""What every in-process client shares: the container's services on one portal, their errors
turned into ClientError, and one close. In process, the caller is the operator: whoever can run
commands on this machine can read its data home, so every scope and every team is theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from aistack.client.http import ClientError
from aistack.container import Container
from aistack.errors import AistackError
from aistack.portal import Portal
from aistack.principals import OPERATOR

T = TypeVar("T")


def guard(action: Callable[[], T]) -> T:
    """The action's result; an error a user should read becomes a ClientError."""
    try:
        return action()
    except AistackError as exc:  # in process, the user is the operator: the detail is theirs to see
        raise ClientError(f"{exc.message} ({exc.detail})" if exc.detail else exc.message) from None


class Local:
    def __init__(self, container: Container):
        self.container = container
        self.caller = OPERATOR
        self.portal = Portal()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return guard(lambda: self.portal.call(coro))

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        """The items; closing early closes the async iterator too (a stream stops generating)."""
        iterator = self.portal.iterate(items)
        try:
            while True:
                try:
                    yield guard(lambda: next(iterator))
                except StopIteration:
                    return
        finally:
            iterator.close()

    def close(self) -> None:
        try:
            self.portal.call(self.container.close())
        finally:
            self.portal.close()
