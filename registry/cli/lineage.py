"""`registry lineage NAME@REF` and `registry whence FILE`: where artifacts came from."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from registry.archives.limits import human_bytes
from registry.cli.connection import EXIT_NOT_FOUND, Remote, remote_command
from registry.cli.main import main
from registry.cli.models import VersionRef
from registry.client import NotFound

HASH_CHUNK = 1024 * 1024


@remote_command(main, "lineage")
@click.argument("target", type=VersionRef())
@click.option("--dot", is_flag=True, help="Print Graphviz text instead (pipe to `dot -Tsvg`).")
def lineage_command(remote: Remote, target: tuple[str, str], dot: bool) -> None:
    """Print how a version's artifacts were derived: the tree from the upload, each edge with
    its job, steps, converter versions, worker, times, parity and actor."""
    name, ref = target
    if dot:
        path = f"/models/{quote(name, safe='')}/versions/{quote(ref, safe='')}/lineage"
        click.echo(remote.client.request("GET", path, params={"format": "dot"}).text, nl=False)
        return
    graph = remote.client.lineage(name, ref)
    remote.emit(graph, lambda: lineage_lines(graph))


@remote_command(main, "whence")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def whence_command(remote: Remote, file: Path) -> None:
    """Hash a local file and say which model versions hold those bytes, and their ancestry
    back to the upload (or that the registry has never seen them)."""
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        for chunk in iter(lambda: stream.read(HASH_CHUNK), b""):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    try:
        answer = remote.client.whence_sha256(sha256)
    except NotFound:
        message = f"the registry has never seen these bytes ({file.name}, sha256 {sha256})"
        remote.emit({"sha256": sha256, "holders": []}, lambda: message)
        raise SystemExit(EXIT_NOT_FOUND) from None
    remote.emit(answer, lambda: whence_lines(file.name, answer))


def lineage_lines(graph: dict[str, Any]) -> list[str]:
    nodes = {node["id"]: node for node in graph["nodes"]}
    edges = {edge["to"]: edge for edge in graph["edges"]}
    children: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        children.setdefault(edge["from"], []).append(edge["to"])
    lines = [
        f"{graph['model']}@{graph['version']}  {graph['status']}  "
        f"uploaded by {graph['uploaded_by']} at {graph['uploaded_at']}"
    ]

    def walk(node_id: str, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└─ " if last else "├─ ")
        lines.append(f"{prefix}{branch}{_node_text(nodes[node_id])}")
        inner = prefix + ("" if root else ("   " if last else "│  "))
        if node_id in edges:
            lines.extend(f"{inner}     {text}" for text in _edge_text(edges[node_id]))
        kids = children.get(node_id, [])
        for index, kid in enumerate(kids):
            walk(kid, inner, index == len(kids) - 1, False)

    for root in (node_id for node_id in nodes if node_id not in edges):
        walk(root, "", True, True)
    for failed in graph.get("failed_conversions", []):
        lines.append(f"✗ {failed['target']} (job {failed['job_id']}) failed: {failed['error']}")
    return lines


def whence_lines(filename: str, answer: dict[str, Any]) -> list[str]:
    holders = answer["holders"]
    lines = [f"{filename} (sha256 {answer['sha256']}) is held by {len(holders)} version(s):"]
    for holder in holders:
        aliases = f"  aliases: {', '.join(holder['aliases'])}" if holder["aliases"] else ""
        lines.append(
            f"{holder['model']}@{holder['version']}  {holder['kind']}  {holder['status']}{aliases}"
        )
        for step in holder["ancestry"]:
            lines.append(f"  {_node_text(step['artifact'])}")
            if step["derived_by"]:
                what, context = _edge_text(step["derived_by"])
                lines.append(f"    derived from {step['derived_by']['from']}: {what}")
                lines.append(f"      {context}")
            else:
                lines.append(
                    f"    uploaded by {holder['uploaded_by']} at {holder['uploaded_at']} "
                    f"as {holder['source_filename'] or '(unnamed)'}"
                )
    return lines


def _node_text(node: dict[str, Any]) -> str:
    return f"{node['kind']}  {node['sha256'][:16]}  {human_bytes(node['size'])}"


def _edge_text(edge: dict[str, Any]) -> tuple[str, str]:
    """What the conversion did and how faithfully; then who, with what, where and when."""
    versions = edge["converter_versions"]
    tools = ", ".join(
        f"{tool} {versions[tool]}"
        for tool in ("tensorflow", "registry", "python")
        if tool in versions
    )
    reused = f" (reused job {edge['reused_from_job']})" if edge.get("reused_from_job") else ""
    return (
        f"job {edge['job_id']}{reused}: {' > '.join(edge['steps']) or '?'}; "
        f"parity {_parity_text(edge)}",
        f"by {edge['actor']}; {tools}; on {edge['worker_host'] or '?'} "
        f"task {edge['task_id'] or '?'}; {edge['started_at']} to {edge['finished_at']}",
    )


def _parity_text(edge: dict[str, Any]) -> str:
    passed = edge["parity_passed"]
    if passed is None:
        reason = (edge.get("parity") or {}).get("reason")
        return f"not checked ({reason})" if reason else "not checked"
    diffs = [
        figures["max_abs_diff"]
        for figures in (edge.get("parity") or {}).get("outputs", {}).values()
        if isinstance(figures.get("max_abs_diff"), int | float)
    ]
    figure = f", max abs diff {max(diffs):.3g}" if diffs else ""
    return f"{'passed' if passed else 'FAILED'}{figure}"
