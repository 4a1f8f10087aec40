"""The peers table (markdown, ratios to the hand-written ORM) and its chart (PNG)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks.peers.base import Peer
from benchmarks.peers.runner import BASELINE, Outcome

PACKAGES = ["orm-kit", "sqlalchemy", "advanced-alchemy", "tortoise-orm", "sqlmodel",
            "asyncpg", "aiosqlite"]


def cpu_model() -> str:
    """The CPU model named in /proc/cpuinfo (the platform's name elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> str:
    """`name version` of every library in the run."""
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def footnotes(peers: list[Peer]) -> list[tuple[str, str, str]]:
    """(mark, peer, text) for every piece of work a peer does its own documented way."""
    notes: list[tuple[str, str, str]] = []
    for peer in peers:
        for work, text in peer.footnotes.items():
            notes.append((str(len(notes) + 1), f"{peer.name}, {work}", text))
    return notes


def table(dialect: str, outcomes: list[Outcome], peers: list[Peer]) -> str:
    """A markdown table: one line per piece of work, a ratio per peer, the baseline's time."""
    marks = {(p.name, w): str(i + 1) for i, (p, w) in enumerate(
        (p, w) for p in peers for w in p.footnotes)}
    names = [p.name for p in peers]
    lines = [
        f"| {dialect} | unit | {BASELINE} time | " + " | ".join(names) + " |",
        "|---|---|---:|" + "---:|" * len(names),
    ]
    for outcome in outcomes:
        cells = []
        for name in names:
            cell = f"{outcome.ratio(name):.2f}x"
            if (name, outcome.work) in marks:
                cell += f" [{marks[name, outcome.work]}]"
            if outcome.lost.get(name) and max(outcome.lost[name]) > 0:
                cell += f", lost {_median_int(outcome.lost[name])}"
            cells.append(cell)
        lines.append(f"| {outcome.work} | {outcome.unit} | {_fmt(outcome.median(BASELINE))} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes_text(peers: list[Peer]) -> str:
    """The numbered footnotes under the tables."""
    return "\n".join(f"{mark}. {who}: {text}" for mark, who, text in footnotes(peers))


def chart(results: dict[str, list[Outcome]], peers: list[Peer], path: Path, title: str) -> None:
    """Grouped bars of every peer's ratio per piece of work, one panel per backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    names = [p.name for p in peers]
    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 7), squeeze=False)
    height = 0.8 / len(names)
    ticks = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000]
    for ax, (dialect, outcomes) in zip(axes[0], results.items(), strict=True):
        for k, name in enumerate(names):
            ys = [i + (k - (len(names) - 1) / 2) * height for i in range(len(outcomes))]
            ratios = [o.ratio(name) for o in outcomes]
            ax.barh(ys, ratios, height=height, label=name)
            for y, ratio, outcome in zip(ys, ratios, outcomes, strict=True):
                lost = outcome.lost.get(name)
                if lost and max(lost) > 0:
                    ax.annotate(f" lost {_median_int(lost)}", (ratio, y), va="center",
                                fontsize="x-small")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(range(len(outcomes)), [o.work for o in outcomes])
        ax.invert_yaxis()
        ax.set_title(dialect)
        ax.set_xlabel(f"time relative to hand-written {BASELINE} (log scale, lower is faster)")
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(names), fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _median_int(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"
