"""`python -m examples.realworld`: serve Conduit with uvicorn (SQLite unless DATABASE_URL)."""

from __future__ import annotations

import os

import uvicorn


def main() -> None:
    """Start uvicorn on HOST:PORT (default 127.0.0.1:8000)."""
    uvicorn.run(
        "examples.realworld.application:create_app",
        factory=True,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
    )


if __name__ == "__main__":
    main()
