"""`registry diff`, `registry alias history` and `registry alias rollback`: whether a version
would break the clients of another, what an alias named over time, and moving it back."""

from __future__ import annotations

from typing import Any

import click

from registry.cli import views
from registry.cli.connection import Remote, remote_command
from registry.cli.main import main
from registry.cli.models import VersionRef, alias

# `registry diff` answers like diff(1): 0 compatible, 1 breaking; other failures keep the
# codes every command uses (2 not found, 3 a signature not known yet, ...).
EXIT_COMPATIBLE = 0
EXIT_BREAKING = 1


@remote_command(
    main,
    "diff",
    epilog="Exit codes: 0 compatible, 1 breaking (or a usage error), 2 not found or deleted, "
    "3 a signature not known yet, 4 auth, 5 registry unavailable.",
)
@click.argument("before", type=VersionRef(), metavar="NAME@A")
@click.argument("after", type=VersionRef(), metavar="NAME@B")
def diff(remote: Remote, before: tuple[str, str], after: tuple[str, str]) -> None:
    """Compare the signatures of two versions for the clients of NAME@A: each input and
    output added, removed, renamed or changed, classified breaking or compatible.

    Exits 0 when NAME@B is compatible with NAME@A's clients, 1 when it breaks them.
    """
    if before[0] != after[0]:
        raise click.UsageError(f"compare two versions of one model, not {before[0]} and {after[0]}")
    comparison = remote.client.compare(before[0], before[1], after[1])
    remote.emit(comparison, lambda: comparison_lines(comparison))
    raise SystemExit(EXIT_BREAKING if comparison["verdict"] == "breaking" else EXIT_COMPATIBLE)


def comparison_lines(comparison: dict[str, Any]) -> list[str]:
    model = comparison["model"]
    changes = comparison["changes"]
    head = (
        f"{model}@{comparison['version']} -> {model}@{comparison['with_version']}: "
        f"{comparison['verdict']} ({comparison['breaking']} breaking of {len(changes)} changes)"
    )
    if not changes:
        return [head]
    return [head, *views.table(("verdict", "reason"), _rows(changes), indent="  ")[1:]]


def _rows(changes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    breaking_first = sorted(changes, key=lambda change: change["verdict"] != "breaking")
    return [(change["verdict"], change["reason"]) for change in breaking_first]


@remote_command(alias, "history")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
def alias_history(remote: Remote, name: str, alias_name: str) -> None:
    """Every change of ALIAS of NAME, oldest first: who, when, from which version to which,
    refused and forced moves with what refused or was overridden."""
    changes = remote.client.alias_history(name, alias_name)
    remote.emit(changes, lambda: history_lines(changes))


def history_lines(changes: list[dict[str, Any]]) -> list[str]:
    rows = [
        (
            change["time"].replace("T", " ")[:19],
            change["actor"],
            change["action"].removeprefix("alias."),
            _version(change["from_version"]),
            _version(change["to_version"]),
            _notes(change),
        )
        for change in changes
    ]
    return views.table(("time", "actor", "change", "from", "to", "notes"), rows)


def _version(number: int | None) -> str:
    return "-" if number is None else str(number)


def _notes(change: dict[str, Any]) -> str:
    notes = ["rollback"] if change["rollback"] else []
    if change["forced"]:
        notes.append("forced")
    notes += [failure["summary"] for failure in change["failures"]]
    notes += [breaking["reason"] for breaking in change["breaking"]]
    return "; ".join(notes)


@remote_command(alias, "rollback")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--force", is_flag=True, help="Even past the gates (failed variants, breaking).")
def rollback_alias(remote: Remote, name: str, alias_name: str, force: bool) -> None:
    """Move ALIAS of NAME back to the version it named before its current one.

    The move goes through the same gates as `alias set` (exit 3 when refused, unless --force).
    """
    result = remote.client.rollback_alias(name, alias_name, force=force)
    remote.emit(result, lambda: f"{alias_name} -> {name}@{result['version']} (rolled back)")
