"""How big, how quick to load and how fast one variant is on this machine's CPU.

Runs inside the converter process, each variant on the runtime it is deployed with: a TF
Session for the SavedModel (as TF Serving loads it) and the frozen graph, LiteRT with its
default XNNPACK delegate for TFLite. One thread, so figures compare across variants and do not
depend on what else the machine runs; a fixed number of timed runs after a warm-up, stopped
early at the time bound. A desktop CPU's figures are not a phone's: the CPU model, thread
count and runtime versions are recorded with them.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow.core.framework import graph_pb2

from registry.convert.contract import ConversionError
from registry.convert.graph_sources import GraphSource
from registry.convert.model_sources import SavedModelSource, TFLiteSource
from registry.convert.parity import InputsUnavailable, random_inputs, variant_feeds
from registry.convert.runners import TFLiteRunner, graph_def_runner, savedmodel_runner
from registry.convert.signatures import Endpoint
from registry.vocabulary import TARGET_KINDS

THREADS = 1
WARMUP_RUNS = 5
TIMED_RUNS = 50
RUNTIME = {"frozen_pb": "tensorflow (Session)", "savedmodel": "tensorflow (Session)"}
TFLITE_RUNTIME = "ai_edge_litert (XNNPACK)"


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it, else the architecture."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _endpoints(listed: list[dict[str, Any]]) -> list[Endpoint]:
    return [Endpoint(e["name"], e["dtype"], e["shape"], e.get("tensor", "")) for e in listed]


def _loader(kind: str, path: Path, facts: dict[str, Any], options: dict[str, Any]):
    """What loads the variant into its runtime (timed), from what names its endpoints (not
    timed: a variant's recorded facts, or an uploaded source read the way it is converted)."""
    if kind == "frozen_pb":
        if "inputs" in facts:
            inputs, outputs = _endpoints(facts["inputs"]), _endpoints(facts["outputs"])
            constants = ()
        else:
            source = GraphSource(path, options)
            inputs, outputs, constants = source.inputs, source.outputs, source.constants
            source.close()
            path = source.path

        def load_graph():
            graph_def = graph_pb2.GraphDef()
            graph_def.ParseFromString(path.read_bytes())
            return graph_def_runner(graph_def, inputs, outputs, constants, threads=THREADS)

        return load_graph
    if kind == "savedmodel":
        source = SavedModelSource(path, options)
        source.close()
        return lambda: savedmodel_runner(
            source.dir, source.tags, source.signature_key, source.constants, threads=THREADS
        )
    model = TFLiteSource(path, options)
    return lambda: TFLiteRunner(model.path, facts.get("signature_key"), threads=THREADS)


def _feeds(runner, facts: dict[str, Any], example_inputs_path: str | None):
    """The example inputs under the variant's names, or random ones at a batch of 1; a
    variant converted at a fixed batch gets that many rows."""
    if example_inputs_path:
        with np.load(example_inputs_path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        feeds = variant_feeds(arrays, runner.inputs, facts.get("renamed_inputs") or {})
        label = "example_inputs"
    else:
        shapes = {e.name: [1, *e.shape[1:]] for e in runner.inputs if e.shape and e.shape[0] < 0}
        feeds = random_inputs(runner.inputs, shapes)
        label = "random"
    fixed = {e.shape[0] for e in runner.inputs if e.shape and e.shape[0] > 0}
    if len(fixed) == 1:
        rows = fixed.pop()
        feeds = {k: v[:rows] if v.ndim else v for k, v in feeds.items()}
    batch = max((len(v) for v in feeds.values() if v.ndim), default=1)
    return feeds, label, batch


def _milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 4)


def profile_variant(
    kind: str,
    path: str | Path,
    facts: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    example_inputs_path: str | None = None,
    time_bound_seconds: float = 60,
) -> dict[str, Any]:
    """Size, load time and latency (median and p90 of the timed runs) of one variant."""
    if kind not in TARGET_KINDS:
        raise ConversionError(f"cannot profile a {kind}: profiles are of {', '.join(TARGET_KINDS)}")
    path, facts, options = Path(path), facts or {}, options or {}
    size = (
        path.stat().st_size
        if path.is_file()
        else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    )
    profile: dict[str, Any] = {
        "measured": False,
        "size": size,
        "runtime": TFLITE_RUNTIME if kind.startswith("tflite") else RUNTIME[kind],
        "threads": THREADS,
        "cpu": cpu_model(),
        "time_bound_seconds": time_bound_seconds,
    }
    if kind.startswith("tflite") and facts.get("needs_flex"):
        # No interpreter here carries the Flex delegate (docs/conversion.md §13).
        ops = ", ".join(facts.get("flex_ops") or [])
        return {**profile, "reason": f"not measured: needs the Flex delegate for {ops}"}
    load = _loader(kind, path, facts, options)
    deadline = time.monotonic() + time_bound_seconds
    started = time.perf_counter()
    try:
        runner = load()
    except Exception as exc:  # noqa: BLE001 - a variant that will not load is a finding
        return {**profile, "reason": f"not measured: loading failed: {type(exc).__name__}: {exc}"}
    profile["load_ms"] = _milliseconds(time.perf_counter() - started)
    try:
        try:
            feeds, label, batch = _feeds(runner, facts, example_inputs_path)
        except (InputsUnavailable, KeyError) as exc:
            reason = str(exc).replace("not checked", "not measured").strip("'\"")
            return {**profile, "reason": reason}
        timings = []
        for run in range(WARMUP_RUNS + TIMED_RUNS):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            runner.run(feeds)
            if run >= WARMUP_RUNS:
                timings.append(time.perf_counter() - started)
    finally:
        runner.close()
    profile.update(inputs=label, batch=batch, warmup_runs=WARMUP_RUNS, runs=len(timings))
    profile["stopped_at_time_bound"] = len(timings) < TIMED_RUNS
    if not timings:
        return {**profile, "reason": "not measured: the warm-up runs took the whole time bound"}
    latencies = np.array(timings)
    return {
        **profile,
        "measured": True,
        "latency_ms": {
            "p50": _milliseconds(float(np.percentile(latencies, 50))),
            "p90": _milliseconds(float(np.percentile(latencies, 90))),
            "min": _milliseconds(float(latencies.min())),
        },
    }
