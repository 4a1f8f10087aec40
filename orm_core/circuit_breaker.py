"""`CircuitBreaker`: stop trying to connect to a database that keeps refusing.

Closed, every connection attempt goes through; `failure_threshold` consecutive
failures open it. Open, attempts fail at once with `DatabaseUnavailableError` and
never reach the network. After `reset_timeout` seconds it half-opens: the next
attempt is a trial (any other attempt meanwhile still fails fast); success closes
the breaker, failure opens it again for another `reset_timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from orm_core.errors import DatabaseUnavailableError, InvalidQueryError

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Fail fast while the database is known to be unreachable.

    Example:
        db = Database(url, connect_retries=3, circuit_breaker=CircuitBreaker(5, 30.0))

    One breaker guards the connections a `Database` opens (it may be shared by
    several); connections already in the pool are used as usual.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (
            isinstance(failure_threshold, bool)
            or not isinstance(failure_threshold, int)
            or failure_threshold < 1
        ):
            raise InvalidQueryError("failure_threshold must be an integer of at least 1")
        if (
            isinstance(reset_timeout, bool)
            or not isinstance(reset_timeout, int | float)
            or not reset_timeout > 0
        ):
            raise InvalidQueryError("reset_timeout must be a positive number of seconds")
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @classmethod
    def parse(cls, text: str) -> CircuitBreaker | None:
        """Build a breaker from a setting: `"5,30"` (threshold, seconds), `"on"`, or `"off"`.

        For the environment and the command line, where options are text; `"off"`
        (or an empty text) means no breaker.

        Raises:
            InvalidQueryError: the text is none of these.
        """
        value = text.strip().lower()
        if value in {"", "off", "no", "false", "0", "none"}:
            return None
        if value in {"on", "yes", "true", "1"}:
            return cls()
        threshold, _, timeout = value.partition(",")
        try:
            return cls(int(threshold), float(timeout) if timeout else 30.0)
        except ValueError as exc:
            raise InvalidQueryError(
                f"circuit breaker setting {text!r}: expected 'THRESHOLD,SECONDS', 'on' or 'off'"
            ) from exc

    @property
    def state(self) -> State:
        """`closed`, `open`, or `half_open` (the reset timeout has passed since it opened)."""
        if self._opened_at is None:
            return "closed"
        if self._trial or self._clock() - self._opened_at >= self.reset_timeout:
            return "half_open"
        return "open"

    @property
    def failures(self) -> int:
        """Consecutive failed attempts since the last success."""
        return self._failures

    def before_attempt(self) -> None:
        """Let one connection attempt through, or fail fast.

        Raises:
            DatabaseUnavailableError: the breaker is open, or half-open with its one
                trial attempt already under way.
        """
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._trial:
            self._trial = True
            return
        raise DatabaseUnavailableError(
            "the database is unavailable: connection attempts are suspended after "
            f"{self._failures} consecutive failures",
            {"circuit_breaker": state, "retry_after": round(self._retry_after(), 3)},
        )

    def record_success(self) -> None:
        """Close the breaker: the attempt connected."""
        self._failures = 0
        self._opened_at = None
        self._trial = False

    def record_failure(self) -> None:
        """Count a failed attempt; open (again) at the threshold or after a failed trial."""
        self._failures += 1
        if self._trial or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._trial = False

    def release(self) -> None:
        """End an attempt that told nothing about reachability (cancelled, bad credentials)."""
        self._trial = False

    def reset(self) -> None:
        """Close the breaker by hand and forget the failures."""
        self.record_success()

    def _retry_after(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_timeout - (self._clock() - self._opened_at))

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(failure_threshold={self.failure_threshold}, "
            f"reset_timeout={self.reset_timeout}, state={self.state!r})"
        )
