"""Which variant to ship: one row per deployable artifact of a version, with what decides it.

Read from what the conversions and the profile job recorded (an artifact's `facts` and
`parity`): size, how faithful it is to the source, how fast it ran on the worker's CPU, and
what it asks of a device (the Flex runtime, operators a GPU delegate leaves to the CPU).
"""

from __future__ import annotations

from typing import Any

from registry.db.models import Artifact, ModelVersion
from registry.vocabulary import TARGET_KINDS


def _worst_diff(parity: dict[str, Any]) -> float | None:
    diffs = [
        figures["max_abs_diff"]
        for figures in (parity.get("outputs") or {}).values()
        if figures.get("max_abs_diff") is not None
    ]
    return max(diffs) if diffs else None


def _verdict(artifact: Artifact) -> str:
    if artifact.job_id is None:
        return "source"
    if artifact.parity_passed is None:
        return "not checked"
    return "passed" if artifact.parity_passed else "failed"


def _gpu_fallbacks(facts: dict[str, Any]) -> dict[str, int] | None:
    report = facts.get("report")
    return report["gpu_delegate"]["fallback_ops"] if report else None


def flags(facts: dict[str, Any]) -> list[str]:
    """One line per thing a deployer must know about a TFLite variant's operators."""
    lines = []
    flex = facts.get("flex_ops") or []
    if flex:
        lines.append(f"needs Flex: {len(flex)} op{'s' * (len(flex) != 1)} ({', '.join(flex)})")
    fallbacks = _gpu_fallbacks(facts)
    if fallbacks:
        nodes = sum(fallbacks.values())
        lines.append(
            f"GPU delegate: {nodes} op{'s' * (nodes != 1)} fall{'s' * (nodes == 1)} back to "
            f"CPU ({', '.join(fallbacks)})"
        )
    return lines


def ship_row(artifact: Artifact) -> dict[str, Any]:
    facts = artifact.facts or {}
    profile = facts.get("profile") or {}
    latency = profile.get("latency_ms") or {}
    fallbacks = _gpu_fallbacks(facts)
    return {
        "kind": artifact.kind,
        "size": artifact.size,
        "parity": _verdict(artifact),
        "max_abs_diff": _worst_diff(artifact.parity or {}),
        "latency_p50_ms": latency.get("p50"),
        "latency_p90_ms": latency.get("p90"),
        "load_ms": profile.get("load_ms"),
        "profile": "measured" if profile.get("measured") else profile.get("reason") or "pending",
        "flex_ops": facts.get("flex_ops") or [] if artifact.kind.startswith("tflite") else [],
        "gpu_fallback_ops": sum(fallbacks.values()) if fallbacks is not None else None,
        "flags": flags(facts),
    }


def ship_table(version: ModelVersion) -> list[dict[str, Any]]:
    """The version's deployable artifacts in the order of TARGET_KINDS."""
    deployable = [a for a in version.artifacts if a.kind in TARGET_KINDS]
    return [ship_row(a) for a in sorted(deployable, key=lambda a: TARGET_KINDS.index(a.kind))]
