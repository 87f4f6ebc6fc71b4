"""Two versions of a model side by side: what changed in their signatures and variants, and
whether a client of the first can use the second.

Each input and output is classified for a serving client. An input is something the client
sends: removing, renaming or retyping it, adding one (every signature input is required), or
narrowing what it accepts (a dimension from any size to a fixed one, one size to another, a
changed rank) breaks the client; widening a dimension (fixed to any size) does not. An output
is something the client reads, so the same rules apply the other way round for its
dimensions: an output that may now come in sizes it never had breaks a client that relies on
the old size, and a narrowed one does not. Adding an output, or a whole new signature key, is
compatible; removing a signature key breaks its clients.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from registry.db.models import Artifact, ModelVersion
from registry.vocabulary import EXAMPLE_INPUTS_KIND

# The version's main inputs and outputs, beside its named signatures (`serving_default`...).
MAIN_SIGNATURE = "main"
BREAKING = "breaking"
COMPATIBLE = "compatible"
# One of the two versions has no signature yet (its first conversion describes it).
UNKNOWN = "unknown"
# A shape's dimension of any size (signatures spell it -1), and a shape of any rank (None).
ANY_SIZE = -1


@dataclass(frozen=True)
class EndpointChange:
    """One input or output of one signature key, as each version declares it.

    `change` is added, removed, renamed (`before` holds the old name), changed or same;
    `verdict` is breaking or compatible for a client of the earlier version (None when same),
    and `reason` says why in words.
    """

    signature: str
    side: str  # "inputs" or "outputs"
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    change: str = "same"
    verdict: str | None = None
    reason: str = ""

    @property
    def breaking(self) -> bool:
        return self.verdict == BREAKING

    def as_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "side": self.side,
            "name": self.name,
            "change": self.change,
            "verdict": self.verdict,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class SignatureComparison:
    """Every endpoint of two versions' signatures, and the verdict for the earlier one's clients."""

    before: ModelVersion
    after: ModelVersion
    endpoints: list[EndpointChange]

    @property
    def known(self) -> bool:
        return self.before.signature is not None and self.after.signature is not None

    @property
    def changes(self) -> list[EndpointChange]:
        return [e for e in self.endpoints if e.change != "same"]

    @property
    def breaking(self) -> list[EndpointChange]:
        return [e for e in self.endpoints if e.breaking]

    @property
    def verdict(self) -> str:
        if not self.known:
            return UNKNOWN
        return BREAKING if self.breaking else COMPATIBLE


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


def compare_versions(before: ModelVersion, after: ModelVersion) -> SignatureComparison:
    """What a client of `before` meets in `after`, endpoint by endpoint."""
    return SignatureComparison(before, after, compare_signatures(before, after))


def compare_signatures(before: ModelVersion, after: ModelVersion) -> list[EndpointChange]:
    """Each input and output of either version, marked and classified, renames paired up."""
    old, new = signature_endpoints(before.signature), signature_endpoints(after.signature)
    old_keys, new_keys = {key for key, _, _ in old}, {key for key, _, _ in new}
    renamed = _renames(old, new, old_keys & new_keys)
    renamed_away = {(key, side, name) for key, side, name in renamed.values()}
    changes = []
    for where in sorted(old.keys() | new.keys()):
        key, side, name = where
        if where in renamed:
            changes.append(_renamed(key, side, old[renamed[where]], new[where]))
        elif where not in renamed_away:
            changes.append(
                _classified(where, old.get(where), new.get(where), new_key=key not in old_keys)
            )
    return changes


def _renames(
    old: dict[tuple[str, str, str], dict],
    new: dict[tuple[str, str, str], dict],
    shared_keys: set[str],
) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    """Where one endpoint went and one came on the same side of a signature key, alike in
    dtype and shape: the new endpoint's place mapped to the old one's (read as a rename)."""
    gone, came = defaultdict(list), defaultdict(list)
    for where in old.keys() - new.keys():
        gone[where[:2]].append(where)
    for where in new.keys() - old.keys():
        came[where[:2]].append(where)
    renames = {}
    for group, gone_here in gone.items():
        came_here = came.get(group, [])
        if group[0] not in shared_keys or len(gone_here) != 1 or len(came_here) != 1:
            continue
        [was], [now] = gone_here, came_here
        if _spec(old[was]) == _spec(new[now]):
            renames[now] = was
    return renames


def _spec(endpoint: dict[str, Any]) -> tuple[str, Any]:
    return endpoint["dtype"], endpoint["shape"]


def _endpoint_words(key: str, side: str, name: str) -> str:
    """`input 'x'`, or `input 'x' of signature 'scores'` outside the main signature."""
    words = f"{side.removesuffix('s')} {name!r}"
    return words if key == MAIN_SIGNATURE else f"{words} of signature {key!r}"


def _renamed(key: str, side: str, was: dict, now: dict) -> EndpointChange:
    words = _endpoint_words(key, side, was["name"])
    reason = f"{words} renamed to {now['name']!r}"
    return EndpointChange(key, side, now["name"], was, now, "renamed", BREAKING, reason)


def _classified(
    where: tuple[str, str, str], before: dict | None, after: dict | None, *, new_key: bool
) -> EndpointChange:
    key, side, name = where
    words = _endpoint_words(key, side, name)
    if before is None:
        if new_key:
            return EndpointChange(
                *where, before, after, "added", COMPATIBLE, f"{words} added with its signature"
            )
        if side == "outputs":
            return EndpointChange(*where, before, after, "added", COMPATIBLE, f"{words} added")
        reason = f"{words} added: every input is required, and clients do not send it yet"
        return EndpointChange(*where, before, after, "added", BREAKING, reason)
    if after is None:
        return EndpointChange(*where, before, after, "removed", BREAKING, f"{words} removed")
    breaking, compatible = _differences(side, before, after)
    if not breaking and not compatible:
        return EndpointChange(*where, before, after)
    verdict = BREAKING if breaking else COMPATIBLE
    reason = f"{words}: {'; '.join(breaking + compatible)}"
    return EndpointChange(*where, before, after, "changed", verdict, reason)


def _differences(side: str, before: dict, after: dict) -> tuple[list[str], list[str]]:
    """What changed in an endpoint's dtype and shape: (breaking, compatible) in words."""
    breaking: list[str] = []
    if before["dtype"] != after["dtype"]:
        breaking.append(f"dtype changed from {before['dtype']} to {after['dtype']}")
    narrowed, widened = [], []
    old_shape, new_shape = before["shape"], after["shape"]
    if old_shape is None and new_shape is not None:
        narrowed.append(f"rank fixed at {len(new_shape)} (was any)")
    elif new_shape is None and old_shape is not None:
        widened.append(f"rank now any (was {len(old_shape)})")
    elif old_shape is not None and len(old_shape) != len(new_shape):
        breaking.append(f"rank changed from {len(old_shape)} to {len(new_shape)}")
    elif old_shape is not None:
        for dimension, (was, now) in enumerate(zip(old_shape, new_shape, strict=True)):
            if was == now:
                continue
            if was == ANY_SIZE:
                narrowed.append(f"dimension {dimension} narrowed from any size to {now}")
            elif now == ANY_SIZE:
                widened.append(f"dimension {dimension} widened from {was} to any size")
            else:
                breaking.append(f"dimension {dimension} changed from {was} to {now}")
    # A client sends inputs (narrowing refuses what it sends) and reads outputs (widening
    # hands it sizes it does not expect).
    if side == "inputs":
        return breaking + narrowed, widened
    return breaking + widened, narrowed


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
