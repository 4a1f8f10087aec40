"""A relay process for the outbox crash test.

    python -m tests.core.outbox_relay_worker URL OUTPUT STOP_FILE [KILL_AFTER]

Relays in a loop until the outbox is empty and STOP_FILE exists. Each delivery appends
`<monotonic ns> <topic> <id>` to OUTPUT (one write, fsynced) before the relay marks it,
then lingers a little, so a kill often lands between delivery and mark. With KILL_AFTER
the process SIGKILLs itself right after that many deliveries: mid-batch, unmarked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from orm_core import Database, OutboxMessage, relay_outbox


async def main(url: str, output: str, stop_file: str, kill_after: int) -> None:
    db = Database(url)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    delivered = 0

    async def deliver(message: OutboxMessage) -> None:
        nonlocal delivered
        os.write(fd, f"{time.monotonic_ns()} {message.topic} {message.id}\n".encode())
        os.fsync(fd)
        delivered += 1
        if delivered == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.sleep(0.002)  # a slow consumer

    while True:
        if await relay_outbox(db, deliver, batch_size=50) == 0:
            if _stopping(stop_file):
                break
            await asyncio.sleep(0.02)  # the loop a production relay runs, with a longer pause
    os.close(fd)
    await db.dispose()


def _stopping(stop_file: str) -> bool:
    return Path(stop_file).exists()


if __name__ == "__main__":
    url, output, stop_file = sys.argv[1:4]
    kill_after = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    asyncio.run(main(url, output, stop_file, kill_after))
