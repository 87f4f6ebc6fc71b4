"""How models, versions, uploads and exports read on a terminal (the non-`--json` output)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from registry.archives.limits import human_bytes
from registry.client.serving import ServingTree

SHORT_SHA = 12


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "") -> list[str]:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return [
        (
            indent + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        ).rstrip()
        for row in cells
    ]


def _shape(shape: list[int] | None) -> str:
    if shape is None:
        return "[unknown rank]"
    return "[" + ", ".join("?" if d in (-1, None) else str(d) for d in shape) + "]"


def _time(stamp: str | None) -> str:
    return (stamp or "").replace("T", " ")[:19]


def _jobs(version: dict) -> str:
    return ", ".join(f"{j['target']} {j['status']}" for j in version.get("jobs", []))


def _source(version: dict) -> dict:
    uploads = (a for a in version["artifacts"] if a["job_id"] is None)
    return next((a for a in uploads if a["kind"] == version["source_kind"]), {})


def _variants(version: dict) -> list[dict]:
    return [a for a in version["artifacts"] if a["job_id"] is not None]


def uploaded(version: dict) -> str:
    where = f"{version['model']}@{version['version']}"
    source = _source(version)
    size = f", {human_bytes(source['size'])}" if source else ""
    targets = [j["target"] for j in version.get("jobs", []) if j["target"] != "describe"]
    doing = f"converting to {', '.join(targets)}" if targets else "describing it"
    return f"uploaded {where}: {version['source_kind']} {version['source_filename']}{size}; {doing}"


def ready(version: dict) -> list[str]:
    where = f"{version['model']}@{version['version']}"
    variants = _variants(version)
    failing = [a["kind"] for a in variants if a["parity_passed"] is False]
    unchecked = [a["kind"] for a in variants if a["parity_passed"] is None]
    parity = "parity passed for every variant"
    if failing or unchecked:
        parity = "; ".join(
            text
            for text in (
                f"parity FAILED for {', '.join(failing)}" if failing else "",
                f"parity not checked for {', '.join(unchecked)}" if unchecked else "",
            )
            if text
        )
    kinds = ", ".join(a["kind"] for a in variants) or "no variants"
    return [f"{where} is ready: {kinds}; {parity}", f"details: registry show {where}"]


class JobWatcher:
    """Tells a person on a terminal how the conversions are going while `--wait` waits."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._last = ""

    def __call__(self, version: dict) -> None:
        line = f"{version['model']}@{version['version']} {version['status']}: {_jobs(version)}"
        if self.enabled and line != self._last:
            click.echo(line, err=True)
            self._last = line


def models_table(models: list[dict]) -> list[str]:
    if not models:
        return ["no models yet: `registry upload NAME PATH` makes one"]
    rows = [
        (
            m["name"],
            ", ".join(f"{a}={v}" for a, v in sorted(m["aliases"].items())) or "-",
            _time(m["created_at"]),
            m["description"] or "",
        )
        for m in models
    ]
    return table(("NAME", "ALIASES", "CREATED", "DESCRIPTION"), rows)


def versions_table(versions: list[dict]) -> list[str]:
    if not versions:
        return ["no versions"]
    rows = []
    for v in versions:
        source = _source(v)
        rows.append(
            (
                v["version"],
                v["status"],
                v["source_kind"],
                human_bytes(source["size"]) if source else "-",
                _time(v["created_at"]),
                ", ".join(v["aliases"]) or "-",
            )
        )
    return table(("VERSION", "STATUS", "SOURCE", "SIZE", "CREATED", "ALIASES"), rows)


def _parity_summary(artifact: dict) -> str:
    parity = artifact.get("parity") or {}
    if not parity.get("checked"):
        return f"not checked ({parity['reason']})" if parity.get("reason") else "-"
    verdict = "passed" if parity.get("passed") else "FAILED"
    return f"{verdict} on {parity.get('inputs')} inputs"


def _parity_lines(artifact: dict) -> list[str]:
    rows = []
    for output, figures in sorted(((artifact.get("parity") or {}).get("outputs") or {}).items()):
        tolerance = figures.get("tolerance") or {}
        rows.append(
            (
                output,
                _number(figures.get("max_abs_diff")),
                _number(figures.get("max_rel_diff")),
                f"abs {tolerance.get('abs', '?')} + rel {tolerance.get('rel', '?')}",
                "ok" if figures.get("passed") else f"FAILED {figures.get('reason', '')}".strip(),
            )
        )
    if not rows:
        return []
    return table(("output", "max |diff|", "relative", "tolerance", ""), rows, indent="      ")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _latency(row: dict) -> str:
    if row["latency_p50_ms"] is not None:
        return f"{row['latency_p50_ms']:.3g} ms"
    return "pending" if row["profile"] == "pending" else "-"


def ship_lines(v: dict) -> list[str]:
    """Which variant to ship: the version's ship table, then each variant's flags."""
    ship = v.get("ship") or []
    if not ship:
        return []
    rows = [
        (
            row["kind"],
            human_bytes(row["size"]),
            row["parity"],
            _number(row["max_abs_diff"]),
            _latency(row),
            len(row["flex_ops"]) or "-",
            "-" if row["gpu_fallback_ops"] is None else row["gpu_fallback_ops"],
        )
        for row in ship
    ]
    header = ("kind", "size", "parity", "max |diff|", "p50 (1 thread)", "Flex ops", "GPU fallbacks")
    lines = ["", "ship", *table(header, rows, indent="  ")]
    lines += [f"  {row['kind']}: {flag}" for row in ship for flag in row["flags"]]
    profiles = [(a.get("facts") or {}).get("profile") or {} for a in v["artifacts"]]
    profile = next((p for p in profiles if p.get("measured")), None)
    if profile:
        versions = profile.get("versions") or {}
        runtimes = ", ".join(
            f"{k} {versions[k]}" for k in ("tensorflow", "ai_edge_litert") if k in versions
        )
        inputs = "the example inputs" if profile["inputs"] == "example_inputs" else "random inputs"
        lines.append(
            f"  latency: {profile['cpu']}, {profile['threads']} thread, a batch of "
            f"{profile['batch']} from {inputs}; {runtimes}"
        )
    return lines


def version_details(v: dict) -> list[str]:
    aliases = f"  aliases: {', '.join(v['aliases'])}" if v["aliases"] else ""
    lines = [f"{v['model']}@{v['version']}  {v['status']}{aliases}"]
    if v["status_detail"]:
        lines.append(f"  {v['status_detail']}")
    source = _source(v)
    if source:
        lines.append(
            f"  source   {v['source_kind']}  {v['source_filename']}  "
            f"{human_bytes(source['size'])}  sha256 {source['sha256'][:SHORT_SHA]}"
        )
    lines.append(f"  created  {_time(v['created_at'])} by {v['created_by']}")
    if v["status"] != "ready" and v.get("jobs"):
        lines.append(f"  jobs     {_jobs(v)}")
    signature = v.get("signature") or {}
    endpoints = [("input", e) for e in signature.get("inputs", [])] + [
        ("output", e) for e in signature.get("outputs", [])
    ]
    lines += ["", "signature"]
    if endpoints:
        rows = [(side, e["name"], e["dtype"], _shape(e["shape"])) for side, e in endpoints]
        lines += table(("", "name", "dtype", "shape"), rows, indent="  ")[1:]
    else:
        lines.append("  not known yet (the first conversion job reads it)")
    if inferred := v.get("inferred_outputs"):
        nodes = ",".join(inferred["output_nodes"])
        lines += [
            f"  outputs inferred: {nodes}, as {inferred['how']}",
            "  (not what you meant? upload again with --output-nodes)",
        ]
    lines += ship_lines(v)
    variants = _variants(v)
    lines += ["", "variants"]
    if not variants:
        lines.append("  none yet")
        return lines
    rows = [
        (
            a["kind"],
            human_bytes(a["size"]),
            a["sha256"][:SHORT_SHA],
            _parity_summary(a),
        )
        for a in variants
    ]
    header, *rendered = table(("kind", "size", "sha256", "parity"), rows, indent="  ")
    lines.append(header)
    for artifact, line in zip(variants, rendered, strict=True):
        lines += [line, *_parity_lines(artifact)]
    return lines


def exported(tree: ServingTree) -> list[str]:
    lines = []
    for model in tree.models:
        listed = ", ".join(map(str, model.versions))
        labels = ", ".join(f"{alias}={n}" for alias, n in sorted(model.labels.items()))
        lines.append(
            f"exported {model.name} version{'s' if len(model.versions) != 1 else ''} {listed} "
            f"to {model.base_path}" + (f" (labels {labels})" if labels else "")
        )
    lines += [f"skipped {name}: {why}" for name, why in sorted(tree.skipped.items())]
    lines.append(f"serve with: tensorflow_model_server --model_config_file={tree.config.resolve()}")
    return lines
