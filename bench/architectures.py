"""Real model shapes through the converter: path taken, parity, size, time, peak memory.

    .venv/bin/python -m bench.architectures [NAME ...]

Builds the models with registry/testing/tf_samples.py in a child process (random weights, batch-norm
statistics from data), then converts each to every variant it has with a converter process
of its own, so the converter's peak resident memory (VmHWM) belongs to that model alone.
Prints one markdown table row per variant. ResNet50 at 224 pixels takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from registry.convert import ConversionError, ConversionRequest, Converter

ROOT = Path(__file__).resolve().parent.parent
TFLITES = ("tflite", "tflite_fp16", "tflite_int8")
EVERY = ("frozen_pb", "savedmodel", *TFLITES)
# name -> (targets, options beyond the sample's own, whether to pass its example_inputs)
MODELS: dict[str, tuple[tuple[str, ...], dict, bool]] = {
    "mobilenet_v2_224": (EVERY, {}, False),
    "efficientnet_b0_224": (EVERY, {}, False),
    "resnet50_224": (EVERY, {}, False),
    "lstm": (EVERY, {}, False),
    "gru": (EVERY, {}, False),
    "keep_prob": (EVERY, {"input_constants": {"keep_prob": 1.0}}, False),
    "is_training": (("savedmodel", *TFLITES), {"input_constants": {"is_training": False}}, False),
    "tf_example": (("frozen_pb", "tflite"), {}, True),
}


def build(names: list[str], where: Path) -> dict[str, dict]:
    out = subprocess.run(
        [sys.executable, "-m", "registry.testing.tf_samples", str(where), *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(out.stdout[out.stdout.index("{") :])


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _parity(parity: dict) -> str:
    if not parity.get("checked") or not parity["outputs"]:
        return parity.get("reason") or "not checked"
    worst = max(parity["outputs"].values(), key=lambda o: o.get("normalized_rms_error") or 0)
    verdict = "passed" if parity["passed"] else "FAILED"
    return (
        f"{worst['max_abs_diff']:.2g} / {worst['normalized_rms_error']:.2g} "
        f"(≤ {worst['tolerance']['normalized_rms']:.2g}) / {verdict}"
    )


def _path(result) -> str:
    variant = result.variant
    if "conversion_path" in variant:
        path = variant["conversion_path"]
        if variant.get("flex_ops"):
            path += f" (Flex: {', '.join(variant['flex_ops'])})"
        return path
    return " → ".join(result.steps)


def convert_model(name: str, sample: dict, scratch: Path) -> list[str]:
    targets, options, with_examples = MODELS[name]
    examples = sample["extra"].get("example_inputs") if with_examples else None
    rows = []
    with Converter(timeout_seconds=1800, memory_limit_mb=16384) as converter:
        for target in targets:
            request = ConversionRequest(
                sample["kind"],
                sample["path"],
                target,
                str(scratch / name / target),
                {**sample["options"], **options},
                examples,
            )
            try:
                result = converter.convert(request)
            except ConversionError as exc:
                rows.append(f"| {name} | {target} | failed: {str(exc)[:120]} | | | |")
                continue
            size = result.variant["size"]
            shown = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"
            seconds = result.variant["seconds"]
            rows.append(
                f"| {name} | {target} | {_path(result)} | {_parity(result.parity)} | "
                f"{shown} | {seconds['convert']:.1f} s (+{seconds['parity']:.1f} s) |"
            )
        pid = converter.pid
        peak = f"{peak_rss_mib(pid):.0f} MiB" if pid else "(the converter had stopped)"
    rows.append(f"| {name} | converter peak RSS | {peak} | | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(MODELS))
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    args.names = args.names or list(MODELS)
    print(
        "| model | variant | path | max abs / normalized RMS (≤ tolerance) / verdict | "
        "size | conversion (+ parity) |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-architectures-") as scratch_name:
        scratch = Path(scratch_name)
        samples = build(args.names, scratch / "models")
        for name in args.names:
            for row in convert_model(name, samples[name], scratch / "out"):
                print(row, flush=True)


if __name__ == "__main__":
    main()
