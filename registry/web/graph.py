"""The lineage graph laid out in layers for SVG: the upload on the left, each conversion one
column further right, so a derivation chain reads left to right like the `dot` rendering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NODE_WIDTH, NODE_HEIGHT = 190, 78
COLUMN_GAP, ROW_GAP, MARGIN = 190, 34, 16


@dataclass(frozen=True)
class PlacedNode:
    node: dict[str, Any]
    x: int
    y: int


@dataclass(frozen=True)
class PlacedEdge:
    edge: dict[str, Any]
    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def label_x(self) -> int:
        """Labels sit just before the arrow's head: arrows fanning out of one source are
        apart there, so their labels never overlap."""
        return self.x2 - COLUMN_GAP // 2

    @property
    def verdict(self) -> str:
        return {True: "parity passed", False: "parity FAILED", None: "not checked"}[
            self.edge["parity_passed"]
        ]

    @property
    def tensorflow(self) -> str:
        return self.edge["converter_versions"].get("tensorflow", "")


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]


def depths(lineage: dict[str, Any]) -> dict[str, int]:
    """How many conversions away from the upload each artifact is."""
    depth = {node["id"]: 0 for node in lineage["nodes"]}
    # One pass per node settles any chain; more would mean a loop, which lineage cannot have.
    for _ in lineage["nodes"]:
        for edge in lineage["edges"]:
            if edge["from"] in depth and edge["to"] in depth:
                depth[edge["to"]] = max(depth[edge["to"]], depth[edge["from"]] + 1)
    return depth


def layout(lineage: dict[str, Any]) -> Drawing:
    depth = depths(lineage)
    rows: dict[int, int] = {}
    placed: dict[str, PlacedNode] = {}
    for node in lineage["nodes"]:
        column = depth[node["id"]]
        row = rows.get(column, 0)
        rows[column] = row + 1
        x = MARGIN + column * (NODE_WIDTH + COLUMN_GAP)
        y = MARGIN + row * (NODE_HEIGHT + ROW_GAP)
        placed[node["id"]] = PlacedNode(node, x, y)
    edges = [
        PlacedEdge(
            edge,
            placed[edge["from"]].x + NODE_WIDTH,
            placed[edge["from"]].y + NODE_HEIGHT // 2,
            placed[edge["to"]].x,
            placed[edge["to"]].y + NODE_HEIGHT // 2,
        )
        for edge in lineage["edges"]
        if edge["from"] in placed and edge["to"] in placed
    ]
    columns = max(depth.values(), default=0) + 1
    tallest = max(rows.values(), default=1)
    return Drawing(
        width=2 * MARGIN + columns * NODE_WIDTH + (columns - 1) * COLUMN_GAP,
        height=2 * MARGIN + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP,
        nodes=list(placed.values()),
        edges=edges,
    )
