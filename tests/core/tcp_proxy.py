"""A loopback TCP proxy a test starts, stops and switches, to play a database going away.

Stopped, its port refuses connections (a real ECONNREFUSED). Started, it counts
every connection that reaches it and, by `mode`, resets it at once (`"reset"`:
the server is there but failing) or forwards it to the real server (`"forward"`),
after `delay` seconds. `drop_connections()` cuts every forwarded connection.
"""

from __future__ import annotations

import asyncio
from typing import Literal


class TcpProxy:
    """Forward 127.0.0.1:<port> to a target, or refuse, or reset, as the test says."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode: Literal["forward", "reset"] = "forward"
        self.delay = 0.0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening (the port refuses from now on) and cut every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.drop_connections()

    async def drop_connections(self) -> None:
        """Cut every open connection, both sides."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        # the pipes end on their own once their sockets are gone
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    async def start_later(self, delay: float) -> asyncio.Task[None]:
        """Start listening after `delay` seconds, in the background."""

        async def later() -> None:
            await asyncio.sleep(delay)
            await self.start()

        return asyncio.create_task(later())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.add(up_writer)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._tasks.discard(task)
            writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()
