"""Finding a graph's outputs when none are given, and saying how they were found.

An inference graph's outputs are its sinks computed from the inputs (`detect_outputs`). A
training graph's sinks are its loss and metrics; its output is the tensor that feeds the loss
and is not a label (`_outputs_feeding_the_loss`). Works on GraphDefs only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from registry.convert.contract import ConversionError
from registry.convert.graphs import (
    PLACEHOLDER_OPS,
    VARIABLE_OPS,
    consumed_nodes,
    downstream_of,
    node_of,
    nodes_by_name,
    placeholders,
)

# Ops that are never a model output: bookkeeping, variables, checkpointing, control.
_EXCLUDED_OPS = {
    "NoOp",
    "Const",
    *VARIABLE_OPS,
    *PLACEHOLDER_OPS,
    "PlaceholderWithDefault",
    "SaveV2",
    "RestoreV2",
    "SaveSlices",
    "RestoreSlice",
    "MergeV2Checkpoints",
    "ShardedFilename",
    "StringJoin",
    "VarIsInitializedOp",
    "IsVariableInitialized",
    "Assert",
    "Print",
    "PrintV2",
    "MergeSummary",
    "ScalarSummary",
    "HistogramSummary",
    "ImageSummary",
    "AudioSummary",
    "TensorSummary",
    "TensorSummaryV2",
    "WriteSummary",
    "ReadVariableOp",
}
_EXCLUDED_OP_PREFIXES = ("Apply", "ResourceApply", "Assign", "ResourceSparseApply", "SparseApply")
# First name-scope components of checkpointing, initialisation, summaries and training.
_EXCLUDED_SCOPE = re.compile(
    r"^(save(_\d+)?|init(_\d+)?|init_all_tables|report_uninitialized_\w*|gradients(_\d+)?"
    r"|summaries|summary|global_step|training|optimizer|\w*Optimizer|GradientDescent|Adam(_\d+)?"
    r"|Momentum|RMSProp|Adagrad\w*|Ftrl|beta[12]_power)$"
)
_TRAINING_OP_PREFIXES = ("Apply", "ResourceApply", "ResourceSparseApply", "SparseApply")
_LIKELY_OUTPUT_OPS = {"Softmax", "Sigmoid", "ArgMax", "LogSoftmax"}
_LIKELY_OUTPUT_NAME = re.compile(r"(logit|prob|pred|output|score)", re.IGNORECASE)
_GRADIENT_SCOPE = re.compile(r"^gradients(_\d+)?$")
# Ops whose output is another tensor's shape, not its values: values do not flow through them.
_SHAPE_OPS = {"Shape", "ShapeN", "Size", "Rank"}
# Ops that only lay a tensor out anew: a loss function's own reshape of the logits is the logits.
_LAYOUT_OPS = {"Reshape", "ExpandDims", "Squeeze", "Cast", "StopGradient"}
_NOT_OUTPUTS = PLACEHOLDER_OPS | _SHAPE_OPS


@dataclass(frozen=True)
class FoundOutputs:
    """Output nodes found in a graph, and how they were found (for the person to check)."""

    nodes: list[str]
    how: str


def _excluded(node) -> bool:
    return node.op in _EXCLUDED_OPS or _training_or_bookkeeping(node)


def is_training_graph(graph_def, collection_keys: Iterable[str] = ()) -> bool:
    """Whether the graph holds an optimizer: then its sinks are the loss, not the outputs."""
    if "train_op" in set(collection_keys):
        return True
    return any(n.op.startswith(_TRAINING_OP_PREFIXES) for n in graph_def.node)


def _format_choice(names: list[str]) -> str:
    return f"output_nodes={','.join(names)}"


def detect_outputs(graph_def, collection_keys: Iterable[str] = ()) -> FoundOutputs:
    """The graph's output nodes, found without being told, and how.

    Candidates are the sinks (nodes no other node consumes) left after dropping
    checkpointing, initialisation, summary, training and global_step nodes, constants,
    variables and placeholders, and nodes that do not depend on any placeholder (an output
    is computed from the inputs). One candidate is the output. Several are all taken when
    they are siblings in one name scope (a multi-head model such as head/logits,
    head/probs); candidates spread over unrelated scopes are more often a stray metric or
    debug node, so that is ambiguous and raises, listing them. In a graph with optimizer ops
    the sinks are the loss: the output is what feeds it (`_outputs_feeding_the_loss`).
    """
    by_name = nodes_by_name(graph_def)
    consumed = consumed_nodes(graph_def)
    fed = downstream_of(graph_def, placeholders(graph_def))
    candidates = [
        node.name
        for node in graph_def.node
        if node.name not in consumed and node.name in fed and not _excluded(node)
    ]
    if is_training_graph(graph_def, collection_keys):
        return _outputs_feeding_the_loss(graph_def, candidates)
    if not candidates:
        raise ConversionError(
            "found no output node (no unconsumed node computed from the inputs); pass "
            "output_nodes with the names of the nodes to export"
        )
    if len(candidates) == 1:
        return FoundOutputs(candidates, "the only unconsumed node computed from the inputs")
    scopes = {name.rsplit("/", 1)[0] if "/" in name else "" for name in candidates}
    if len(scopes) == 1 and "" not in scopes:
        how = f"the unconsumed nodes computed from the inputs, all in name scope {scopes.pop()!r}"
        return FoundOutputs(candidates, how)
    listed = ", ".join(f"{c} ({by_name[c].op})" for c in candidates)
    raise ConversionError(
        f"cannot tell which nodes are the outputs: candidates {listed}. Pass output_nodes with "
        f"the ones to export, e.g. {_format_choice(candidates)}"
    )


def _outputs_feeding_the_loss(graph_def, sinks: list[str]) -> FoundOutputs:
    """A training graph's output: the tensor that feeds its loss and is not a label.

    The loss is a sink of the model's own (forward) nodes computed from the placeholders that
    the gradients are taken of.
    Inputs are the placeholders the weighted ops (those reading a variable) depend on; label
    placeholders are the loss's other placeholders. Candidates are the nodes computed from
    the inputs and variables but not from labels that a node mixing in labels consumes,
    minus those computed from another candidate; a loss function's own reshape or cast of
    the logits stands for the logits. Exactly one candidate is the output; otherwise this
    raises naming them (or the likely outputs, when there are none).
    """
    flow = _ForwardFlow(graph_def)
    fed = flow.downstream(flow.placeholders)
    outcomes = [name for name in flow.order if name in flow.sinks and name in fed]
    # The loss is the outcome the gradients are taken of; a graph that names its gradients
    # otherwise has its outcomes (loss and metrics) all taken as the loss.
    losses = [name for name in outcomes if name in flow.differentiated] or outcomes
    computed = flow.upstream(losses)
    inputs = flow.upstream(flow.weighted & computed) & flow.placeholders
    labels = sorted((computed & flow.placeholders) - inputs)
    mixed = flow.downstream(labels)
    clean = (flow.downstream(inputs) & flow.downstream(flow.variables) & computed) - mixed
    frontier = []
    for name in flow.order:
        if (
            name in clean
            and flow.kind[name] not in _NOT_OUTPUTS
            and flow.users.get(name, set()) & mixed
        ):
            while flow.kind[name] in _LAYOUT_OPS and flow.data_inputs[name][0] in clean:
                name = flow.data_inputs[name][0]
            if name not in frontier:
                frontier.append(name)
    found = [n for n in frontier if not any(n in flow.downstream([o]) - {o} for o in frontier)]
    if len(found) == 1 and labels:
        return FoundOutputs(
            found,
            f"training graph: the tensor that feeds the loss {', '.join(losses)} and is not a "
            f"label (label placeholders: {', '.join(labels)})",
        )
    if len(found) > 1 and labels:
        raise ConversionError(
            f"the graph is a training graph (it has optimizer ops), and several tensors feed "
            f"its loss {', '.join(losses)} besides the labels ({', '.join(labels)}): "
            f"{', '.join(found)}. Pass output_nodes, e.g. {_format_choice(found)}"
        )
    likely = [
        n.name
        for n in graph_def.node
        if not _excluded(n)
        and (n.op in _LIKELY_OUTPUT_OPS or _LIKELY_OUTPUT_NAME.search(n.name.split("/")[-1]))
    ][:8]
    hint = f" Likely outputs: {', '.join(likely)}." if likely else ""
    raise ConversionError(
        "the graph is a training graph (it has optimizer ops), so its unconsumed nodes "
        f"({', '.join(sinks) or 'none'}) are the loss or metrics, not the model's "
        f"outputs, and no one tensor feeds the loss apart from labels.{hint} Pass "
        f"output_nodes, e.g. {_format_choice(likely[:2] or ['name'])}"
    )


class _ForwardFlow:
    """How values flow between a graph's forward (model and loss) nodes: data edges only,
    none through shape ops, none into the gradients, optimizer or checkpointing nodes."""

    def __init__(self, graph_def) -> None:
        forward = [n for n in graph_def.node if not _training_or_bookkeeping(n)]
        names = {n.name for n in forward}
        self.order = [n.name for n in forward]
        self.kind = {n.name: n.op for n in forward}
        self.data_inputs = {
            n.name: [node_of(i) for i in n.input if not i.startswith("^")] for n in forward
        }
        self.users: dict[str, set[str]] = {}
        for name, inputs in self.data_inputs.items():
            for source in inputs:
                self.users.setdefault(source, set()).add(name)
        self.sinks = {n for n in names if not self.users.get(n)}
        # tf.gradients names the gradient of node N `gradients/N_grad/...`.
        self.differentiated = {
            rest.partition("_grad/")[0]
            for n in graph_def.node
            if _GRADIENT_SCOPE.match(n.name.split("/", 1)[0])
            and "_grad/" in (rest := n.name.split("/", 1)[-1])
        }
        self.placeholders = {n.name for n in forward if n.op in PLACEHOLDER_OPS}
        self.variables = {
            n.name
            for n in forward
            if n.op in VARIABLE_OPS
            or n.op == "ReadVariableOp"
            or (n.op == "Identity" and self.kind.get(self.data_inputs[n.name][0]) in VARIABLE_OPS)
        }
        self.weighted = {
            name for name, inputs in self.data_inputs.items() if set(inputs) & self.variables
        }

    def downstream(self, names: Iterable[str]) -> set[str]:
        """The nodes whose values are computed from these nodes' values, themselves included."""
        return self._reach(names, lambda name: self.users.get(name, ()))

    def upstream(self, names: Iterable[str]) -> set[str]:
        """The nodes these nodes' values are computed from, themselves included."""
        return self._reach(names, lambda name: self.data_inputs.get(name, ()))

    def _reach(self, names: Iterable[str], step) -> set[str]:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in seen or name not in self.kind:
                continue
            seen.add(name)
            if self.kind[name] not in _SHAPE_OPS:
                todo.extend(step(name))
        return seen


def _training_or_bookkeeping(node) -> bool:
    if node.op.startswith(_EXCLUDED_OP_PREFIXES):
        return True
    first = node.name.split("/", 1)[0]
    return bool(_EXCLUDED_SCOPE.match(first)) or "global_step" in node.name.split("/")
