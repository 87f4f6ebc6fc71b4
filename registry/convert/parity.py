"""Does the produced variant compute what the source computes? Same inputs, outputs by name.

Tolerance rule, per output: passed when every element satisfies
    |variant - source| <= abs + rel * max|source|
i.e. an absolute floor plus a share of the output's own scale. Quantization error scales
with an output's range rather than with each element, so the scale is the whole output's
largest magnitude; `max_rel_diff` is reported on the same scale (max_abs_diff / max|source|).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from registry.convert.runners import Runner
from registry.convert.signatures import Endpoint

SEED = 0
UNKNOWN_DIM = 2
MAX_RANDOM_INT = 4  # random int inputs are in [0, 4): valid as ids, indices or counts

# (abs, rel) per target kind: float32 variants should agree to rounding; float16 weights
# to ~1e-3 of scale; dynamic-range int8 to a few percent (tf-notes section 10).
TOLERANCES: dict[str, tuple[float, float]] = {
    "frozen_pb": (1e-5, 1e-5),
    "savedmodel": (1e-5, 1e-5),
    "tflite": (1e-5, 1e-5),
    "tflite_fp16": (1e-2, 1e-2),
    "tflite_int8": (5e-2, 5e-2),
}


def not_checked(reason: str, inputs: str | None = None) -> dict[str, Any]:
    return {"checked": False, "passed": None, "reason": reason, "inputs": inputs, "outputs": {}}


class InputsUnavailable(Exception):
    """Random values cannot stand for an input, and no example was given."""


def random_inputs(
    endpoints: list[Endpoint], input_shapes: dict[str, list[int]] | None = None, seed: int = SEED
) -> dict[str, np.ndarray]:
    """Seeded random arrays for each input: floats ~N(0,1), small ints, random bools."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for endpoint in endpoints:
        shape = (input_shapes or {}).get(endpoint.name, endpoint.shape)
        if endpoint.dtype in ("string", "object", "bytes", "str"):
            raise InputsUnavailable(
                f"not checked: string input '{endpoint.name}' cannot be generated randomly, "
                "upload example_inputs"
            )
        if shape is None:
            raise InputsUnavailable(
                f"not checked: input '{endpoint.name}' has an unknown rank, so no random value "
                "fits it; pass input_shapes or upload example_inputs"
            )
        dims = [UNKNOWN_DIM if d is None or d < 0 else d for d in shape]
        dtype = np.dtype(endpoint.dtype)
        if dtype.kind == "b":
            value = rng.random(dims) < 0.5
        elif dtype.kind in "iu":
            value = rng.integers(0, MAX_RANDOM_INT, dims).astype(dtype)
        elif dtype.kind == "c":
            value = (rng.standard_normal(dims) + 1j * rng.standard_normal(dims)).astype(dtype)
        elif dtype.kind == "f":
            value = rng.standard_normal(dims).astype(dtype)
        else:
            raise InputsUnavailable(
                f"not checked: input '{endpoint.name}' has dtype {endpoint.dtype}, which random "
                "values cannot stand for; upload example_inputs"
            )
        feeds[endpoint.name] = value
    return feeds


def example_inputs(endpoints: list[Endpoint], path: str | Path) -> dict[str, np.ndarray]:
    """Arrays from an .npz keyed by input name, cast to each input's dtype."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    feeds = {}
    for endpoint in endpoints:
        if endpoint.name not in arrays:
            raise InputsUnavailable(
                f"not checked: example_inputs has no array for input '{endpoint.name}' "
                f"(it has {', '.join(sorted(arrays)) or 'none'})"
            )
        value = arrays[endpoint.name]
        if endpoint.dtype != "string":
            value = value.astype(endpoint.dtype)
        feeds[endpoint.name] = value
    return feeds


def _normalised(name: str) -> str:
    name = re.sub(r":0$", "", name)
    name = re.sub(r"^serving_default_", "", name)
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def match_names(wanted: list[str], available: list[str]) -> dict[str, str]:
    """Map each wanted (source) name to a variant name, by name only.

    Exact, then ignoring `:0`, a `serving_default_` prefix and punctuation/case (TF
    sanitises signature names). Keras' export convention `output_0, output_1, ...` (the
    order of model.output_names) is accepted when the variant has only such names.
    """
    found: dict[str, str] = {}
    by_norm: dict[str, list[str]] = {}
    for name in available:
        by_norm.setdefault(_normalised(name), []).append(name)
    for name in wanted:
        if name in available:
            found[name] = name
        elif len(by_norm.get(_normalised(name), [])) == 1:
            found[name] = by_norm[_normalised(name)][0]
    positional = [f"output_{i}" for i in range(len(wanted))]
    if len(found) < len(wanted) and sorted(available) == sorted(positional):
        found = {name: f"output_{i}" for i, name in enumerate(wanted)}
    return found


def compare_output(reference: np.ndarray, value: np.ndarray, tolerance: tuple[float, float]):
    """max_abs_diff, max_rel_diff, tolerance and passed for one output."""
    abs_tol, rel_tol = tolerance
    reference, value = np.asarray(reference), np.asarray(value)
    result: dict[str, Any] = {"tolerance": {"abs": abs_tol, "rel": rel_tol}}
    if reference.shape != value.shape:
        return {
            **result,
            "max_abs_diff": None,
            "max_rel_diff": None,
            "passed": False,
            "reason": f"shape {list(value.shape)} differs from the source's "
            f"{list(reference.shape)}",
        }
    if reference.dtype.kind in "OSU" or value.dtype.kind in "OSU":
        same = bool(np.array_equal(reference, value))
        return {
            **result,
            "max_abs_diff": 0.0 if same else None,
            "max_rel_diff": 0.0 if same else None,
            "passed": same,
        }
    ref = reference.astype(np.float64)
    got = value.astype(np.float64)
    nan_ref, nan_got = np.isnan(ref), np.isnan(got)
    if not np.array_equal(nan_ref, nan_got):
        return {
            **result,
            "max_abs_diff": float("nan"),
            "max_rel_diff": float("nan"),
            "passed": False,
            "reason": "NaN where the source has a number, or the reverse",
        }
    diff = np.abs(np.where(nan_ref, 0.0, ref - got))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(np.where(nan_ref, 0.0, ref)).max()) if ref.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    passed = bool(max_abs <= abs_tol + rel_tol * scale)
    return {**result, "max_abs_diff": max_abs, "max_rel_diff": max_rel, "passed": passed}


def check_parity(
    source: Runner,
    variant: Runner,
    target_kind: str,
    renamed_inputs: dict[str, str] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    example_inputs_path: str | None = None,
) -> dict[str, Any]:
    """Run source and variant on the same inputs; compare every source output by name."""
    label = "example_inputs" if example_inputs_path else f"random(seed={SEED})"
    try:
        if example_inputs_path:
            feeds = example_inputs(source.inputs, example_inputs_path)
        else:
            feeds = random_inputs(source.inputs, input_shapes)
    except InputsUnavailable as exc:
        return not_checked(str(exc), label)
    try:
        expected = source.run(feeds)
    except Exception as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:300]
        return not_checked(
            f"not checked: the source failed on {label} inputs ({type(exc).__name__}: "
            f"{detail}); upload example_inputs",
            label,
        )
    try:
        produced = variant.run(_variant_feeds(feeds, variant.inputs, renamed_inputs or {}))
    except Exception as exc:
        return {
            "checked": True,
            "passed": False,
            "inputs": label,
            "outputs": {},
            "reason": f"the variant failed to run: {type(exc).__name__}: {str(exc)[:300]}",
        }
    names = match_names([e.name for e in source.outputs], list(produced))
    tolerance = TOLERANCES[target_kind]
    outputs = {}
    for endpoint in source.outputs:
        if endpoint.name not in names:
            outputs[endpoint.name] = {
                "max_abs_diff": None,
                "max_rel_diff": None,
                "passed": False,
                "tolerance": {"abs": tolerance[0], "rel": tolerance[1]},
                "reason": f"the variant has no output named like '{endpoint.name}'",
            }
            continue
        outputs[endpoint.name] = compare_output(
            expected[endpoint.name], produced[names[endpoint.name]], tolerance
        )
    passed = all(o["passed"] for o in outputs.values())
    failing = [n for n, o in outputs.items() if not o["passed"]]
    reason = None if passed else f"outside tolerance: {', '.join(failing)}"
    return {
        "checked": True,
        "passed": passed,
        "reason": reason,
        "inputs": label,
        "outputs": outputs,
    }


def _variant_feeds(
    feeds: dict[str, np.ndarray], variant_inputs: list[Endpoint], renamed: dict[str, str]
) -> dict[str, np.ndarray]:
    """The source's feeds under the variant's input names and dtypes."""
    names = [e.name for e in variant_inputs]
    wanted = [renamed.get(n, n) for n in feeds]
    mapping = match_names(wanted, names)
    dtypes = {e.name: e.dtype for e in variant_inputs}
    result = {}
    for source_name, value in feeds.items():
        target = mapping.get(renamed.get(source_name, source_name))
        if target is None:
            raise KeyError(f"the variant has no input named like '{source_name}'")
        dtype = dtypes.get(target)
        if dtype and dtype != "string" and value.dtype.kind not in "OSU" and value.dtype != dtype:
            value = value.astype(dtype)
        result[target] = value
    return result
