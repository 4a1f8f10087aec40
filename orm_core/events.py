"""Write events: `on(event, *models)` handlers that every write path fires.

`before_create`, `before_update`, `before_delete` run before the statement (raising
vetoes the write: nothing of the call is written); `after_create`, `after_update`,
`after_delete` run inside the transaction, after it; `after_commit` runs once after each
successful commit that had write events, with those events. A bulk call fires one event
per internal batch. `on(..., outbox="topic")` also publishes each `after_*` event to the
transactional outbox, in the same transaction.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.errors import InvalidQueryError
from orm_core.fields import REDACTED, redacted_fields
from orm_core.session import context_of

logger = logging.getLogger(__name__)

BEFORE = ("before_create", "before_update", "before_delete")
AFTER = ("after_create", "after_update", "after_delete")
EVENTS = (*BEFORE, *AFTER, "after_commit")
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """One write of one model: what a call was asked to write (before) or what it wrote."""

    name: str
    model: type
    unit_of_work: Any
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:
        """The event with redacted columns' values shown as `***`, safe to log."""
        hidden = redacted_fields(self.model)
        rows = [{k: REDACTED if k in hidden else v for k, v in row.items()} for row in self.rows]
        return f"WriteEvent(name={self.name!r}, model={self.model.__name__}, rows={rows!r})"


@dataclass(frozen=True, slots=True)
class _Registration:
    handler: Callable[..., Any] | None
    models: tuple[type, ...]
    outbox: str | None

    def wants(self, model: type) -> bool:
        return not self.models or any(issubclass(model, m) for m in self.models)


_registry: dict[str, list[_Registration]] = {name: [] for name in EVENTS}
# publishes an event to the outbox: set by the outbox module when it is imported
_publisher: list[Callable[[Any, str, dict[str, Any]], Any]] = []


def on(event: str, *models: type, outbox: str | None = None) -> Callable[[HandlerT], HandlerT]:
    """Register the decorated handler (sync or async) for `event` on `models` (none: all).

    With `outbox="topic"`, every matching `after_*` event is also published to that
    topic of the transactional outbox, whether or not a handler is decorated.

    Raises:
        InvalidQueryError: an unknown event, or `outbox` on an event that is not `after_*`.
    """
    if event not in EVENTS:
        raise InvalidQueryError(f"unknown event {event!r}", {"allowed": list(EVENTS)})
    if outbox is not None:
        if event not in AFTER:
            raise InvalidQueryError("only after_create/update/delete events go to an outbox")
        _registry[event].append(_Registration(None, models, outbox))

    def register(handler: HandlerT) -> HandlerT:
        _registry[event].append(_Registration(handler, models, None))
        return handler

    return register


def off(handler: Callable[..., Any]) -> None:
    """Remove every registration of `handler`."""
    for name in EVENTS:
        _registry[name] = [r for r in _registry[name] if r.handler is not handler]


def clear() -> None:
    """Remove every handler and outbox rule (tests and application shutdown)."""
    for name in EVENTS:
        _registry[name].clear()


def listening(name: str, model: type) -> bool:
    """Whether anything listens to `name` on `model` (so the rows are worth computing)."""
    return any(r.wants(model) for r in _registry[name])


def set_publisher(publish: Callable[[Any, str, dict[str, Any]], Any]) -> None:
    """Set how an event is published to the outbox (the outbox module calls this)."""
    _publisher[:] = [publish]


async def fire(
    name: str, model: type, session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> None:
    """Run the handlers of a `before_*`/`after_*` event on `session`'s unit of work.

    An `after_*` event is kept for the `after_commit` handlers. A handler's error
    propagates at once (a `before_*` error vetoes the write).
    """
    context = context_of(session)
    event = WriteEvent(name, model, context.unit_of_work, list(rows))
    for registration in list(_registry[name]):
        if not registration.wants(model):
            continue
        if registration.outbox is not None:
            await _publish(context.unit_of_work or session, registration.outbox, event)
        elif registration.handler is not None:
            await _call(registration.handler, event)
    if name in AFTER:
        context.events.append(event)


async def fire_after_commit(unit_of_work: Any, events: Sequence[WriteEvent]) -> None:
    """Run the `after_commit` handlers with the committed events their models filter.

    Every handler runs; the first error propagates afterwards.
    """
    first_error: BaseException | None = None
    for registration in list(_registry["after_commit"]):
        chosen = [e for e in events if registration.wants(e.model)]
        if not chosen or registration.handler is None:
            continue
        try:
            await _call(registration.handler, chosen)
        except Exception as exc:
            logger.exception("after_commit handler %r failed", registration.handler)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error


async def _call(handler: Callable[..., Any], argument: Any) -> None:
    result = handler(argument)
    if inspect.isawaitable(result):
        await result


async def _publish(unit_of_work: Any, topic: str, event: WriteEvent) -> None:
    if not _publisher:
        raise InvalidQueryError("publishing events needs the outbox (orm_core.outbox)")
    payload = {"event": event.name, "model": event.model.__name__, "rows": event.rows}
    result = _publisher[0](unit_of_work, topic, payload)
    if inspect.isawaitable(result):
        await result
