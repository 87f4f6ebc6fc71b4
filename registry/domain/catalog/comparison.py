"""Two versions of a model side by side: what changed in their signatures and variants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry.db.models import Artifact, ModelVersion
from registry.vocabulary import EXAMPLE_INPUTS_KIND

# The version's main inputs and outputs, beside its named signatures (`serving_default`...).
MAIN_SIGNATURE = "main"


@dataclass(frozen=True)
class EndpointChange:
    """One input or output of one signature key, as each version declares it."""

    signature: str
    side: str  # "inputs" or "outputs"
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def change(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        if (self.before["dtype"], self.before["shape"]) != (
            self.after["dtype"],
            self.after["shape"],
        ):
            return "changed"
        return "same"


@dataclass(frozen=True)
class VariantPair:
    """One artifact kind in each version (None where a version has none)."""

    kind: str
    before: Artifact | None
    after: Artifact | None


def signature_endpoints(signature: dict[str, Any] | None) -> dict[tuple[str, str, str], dict]:
    """Every endpoint of a version's signature, keyed by (signature key, side, name)."""
    signature = signature or {}
    groups = {MAIN_SIGNATURE: signature, **(signature.get("signatures") or {})}
    return {
        (key, side, endpoint["name"]): endpoint
        for key, group in groups.items()
        for side in ("inputs", "outputs")
        for endpoint in group.get(side) or []
    }


def compare_signatures(before: ModelVersion, after: ModelVersion) -> list[EndpointChange]:
    """Each input and output of either version, marked added, removed, changed or same."""
    old, new = signature_endpoints(before.signature), signature_endpoints(after.signature)
    return [
        EndpointChange(key, side, name, old.get((key, side, name)), new.get((key, side, name)))
        for key, side, name in sorted(old.keys() | new.keys())
    ]


def compare_variants(before: ModelVersion, after: ModelVersion) -> list[VariantPair]:
    """The artifacts of both versions paired by kind, the uploaded source first."""
    old, new = _by_kind(before), _by_kind(after)
    kinds = sorted(old.keys() | new.keys(), key=lambda kind: (_is_derived(old, new, kind), kind))
    return [VariantPair(kind, old.get(kind), new.get(kind)) for kind in kinds]


def _by_kind(version: ModelVersion) -> dict[str, Artifact]:
    return {a.kind: a for a in version.artifacts if a.kind != EXAMPLE_INPUTS_KIND}


def _is_derived(old: dict[str, Artifact], new: dict[str, Artifact], kind: str) -> bool:
    artifact = old.get(kind) or new[kind]
    return artifact.parent_id is not None
