"""One read-your-writes scope per request, so every commit a request makes counts for it."""

from __future__ import annotations

from typing import Any

from orm_core import consistency_scope

Scope = dict[str, Any]


class ConsistencyMiddleware:
    """Open `consistency_scope()` around each HTTP and WebSocket request.

    A commit then raises the request's one holder wherever it runs — an endpoint, a
    dependency, a task the endpoint spawns, a threadpool endpoint calling back into the
    event loop — so every later read-only unit of work of the request reads its writes.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        with consistency_scope():
            await self.app(scope, receive, send)
