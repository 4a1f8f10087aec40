"""The `orm` command line (needs the `cli` extra: `pip install "orm-kit[cli]"`).

The console script is installed with the package; this module imports nothing the
plain install lacks, so without the extra `orm` says how to get it and exits 2.
"""

from __future__ import annotations

import sys

CLI_EXTRA_MODULES = frozenset({"typer", "click", "rich", "alembic", "faker"})
MISSING_EXTRA_EXIT = 2


def main() -> None:
    """Run the `orm` command line, or explain how to install it."""
    try:
        from orm_repositories.cli.commands import app
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in CLI_EXTRA_MODULES:
            raise
        print(
            f"the orm command needs the cli extra ({exc.name} is not installed): "
            'pip install "orm-kit[cli]"',
            file=sys.stderr,
        )
        sys.exit(MISSING_EXTRA_EXIT)
    app()


__all__ = ["main"]
