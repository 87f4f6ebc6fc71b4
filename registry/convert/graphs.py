"""GraphDef surgery and inspection: traversals, name checks, renames, the recursion guard.

Works on GraphDef protos only, so it never runs a graph. Output detection, which builds on
these, is in `outputs.py`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from registry.convert.contract import ConversionError

PLACEHOLDER_OPS = {"Placeholder", "PlaceholderV2"}
VARIABLE_OPS = {"VariableV2", "Variable", "VarHandleOp", "AutoReloadVariable"}

# What TensorFlow accepts as a node name.
_NODE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def node_of(tensor_or_node: str) -> str:
    """`^a`, `a:1` and `a` all name node `a`."""
    return tensor_or_node.lstrip("^").split(":")[0]


def tensor_name(name: str) -> str:
    """A node name or tensor name as a tensor name (`a` -> `a:0`)."""
    return name if ":" in name else f"{name}:0"


def is_legal_node_name(name: str) -> bool:
    return bool(_NODE_NAME.match(name))


def legal_node_name(name: str) -> str:
    """`name` made acceptable as a node name, for outputs called e.g. `split:1` or `x y`."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\\/>-]", "_", name)
    return cleaned if is_legal_node_name(cleaned) else f"n_{cleaned}"


def nodes_by_name(graph_def) -> dict:
    return {node.name: node for node in graph_def.node}


def consumed_nodes(graph_def) -> set[str]:
    return {node_of(i) for node in graph_def.node for i in node.input}


def ancestors(graph_def, names: Iterable[str]) -> set[str]:
    """Every node the given nodes depend on, themselves included."""
    by_name = nodes_by_name(graph_def)
    seen: set[str] = set()
    todo = [node_of(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        todo.extend(node_of(i) for i in by_name[name].input)
    return seen


def downstream_of(graph_def, names: Iterable[str]) -> set[str]:
    """Every node that depends on one of the given nodes, themselves included."""
    users: dict[str, list[str]] = {}
    for node in graph_def.node:
        for ref in node.input:
            users.setdefault(node_of(ref), []).append(node.name)
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(users.get(name, ()))
    return seen


def placeholders(graph_def, among: set[str] | None = None) -> list[str]:
    """Placeholder node names in graph order, optionally only those in `among`."""
    return [
        n.name
        for n in graph_def.node
        if n.op in PLACEHOLDER_OPS and (among is None or n.name in among)
    ]


def require_nodes(graph_def, names: Iterable[str], what: str) -> None:
    """Raise naming the closest existing nodes when a given name is not in the graph."""
    existing = [n.name for n in graph_def.node]
    known = set(existing)
    for name in names:
        if node_of(name) in known:
            continue
        close = difflib.get_close_matches(node_of(name), existing, n=5, cutoff=0.5)
        hint = f"; closest node names: {', '.join(close)}" if close else ""
        raise ConversionError(f"{what} {name!r} is not a node of the graph{hint}")


def check_function_recursion(graph_def, what: str = "the graph") -> None:
    """Reject a function library whose call graph has a cycle.

    TensorFlow 2.21 segfaults importing a GraphDef whose nodes call a recursive function
    (docs/conversion.md §9); TF has no recursion, so such a library is never legitimate.
    """
    library = {f.signature.name: f for f in graph_def.library.function}
    if not library:
        return

    def called(nodes) -> set[str]:
        names = set()
        for node in nodes:
            if node.op in library:
                names.add(node.op)
            for value in node.attr.values():
                if value.HasField("func") and value.func.name in library:
                    names.add(value.func.name)
                names.update(f.name for f in value.list.func if f.name in library)
        return names

    calls = {name: called(f.node_def) for name, f in library.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for callee in sorted(calls[name]):
            if state.get(callee) == 1:
                cycle = " -> ".join([*path[path.index(callee) :], callee])
                raise ConversionError(
                    f"{what} has a function library with a recursive call ({cycle}); TensorFlow "
                    "has no recursion and crashes importing it, so it is rejected"
                )
            if callee not in state:
                visit(callee, [*path, callee])
        state[name] = 2

    for name in sorted(library):
        if name not in state:
            visit(name, [name])


def rename_node(graph_def, old: str, new: str) -> None:
    """Rename node `old` to `new`, rewriting every reference to it."""
    for node in graph_def.node:
        if node.name == old:
            node.name = new
        for i, ref in enumerate(node.input):
            control = ref.startswith("^")
            base, _, port = ref.lstrip("^").partition(":")
            if base == old:
                node.input[i] = ("^" if control else "") + new + (f":{port}" if port else "")


def add_identity(graph_def, name: str, source_tensor: str, dtype_enum: int) -> None:
    node = graph_def.node.add()
    node.name = name
    node.op = "Identity"
    node.input.append(source_tensor if not source_tensor.endswith(":0") else source_tensor[:-2])
    node.attr["T"].type = dtype_enum


def unique_name(graph_def, wanted: str) -> str:
    taken = {n.name for n in graph_def.node}
    name, i = wanted, 1
    while name in taken:
        name, i = f"{wanted}_{i}", i + 1
    return name


def set_placeholder_shape(graph_def, name: str, dims: list[int]) -> None:
    """Give placeholder `name` the static shape `dims`, checking it fits the declared one."""
    node = nodes_by_name(graph_def)[name]
    shape = node.attr["shape"].shape
    if not shape.unknown_rank and shape.dim:
        declared = [d.size for d in shape.dim]
        if len(declared) != len(dims) or any(
            d not in (-1, w) for d, w in zip(declared, dims, strict=True)
        ):
            raise ConversionError(
                f"input_shapes gives {name!r} the shape {dims}, which does not fit its declared "
                f"shape {declared}"
            )
    shape.Clear()
    for d in dims:
        shape.dim.add(size=d)


def replace_with_placeholder(graph_def, name: str, dtype_enum: int, dims: list[int] | None):
    """Turn node `name` into a Placeholder, cutting what fed it (input_nodes inside a graph)."""
    node = nodes_by_name(graph_def)[name]
    node.op = "Placeholder"
    del node.input[:]
    node.attr.clear()
    node.attr["dtype"].type = dtype_enum
    if dims is None:
        node.attr["shape"].shape.unknown_rank = True
    else:
        for d in dims:
            node.attr["shape"].shape.dim.add(size=d)
