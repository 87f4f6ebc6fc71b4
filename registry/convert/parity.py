"""Does the produced variant compute what the source computes? Same inputs, outputs by name.

Per output, four error measures: the largest element difference (`max_abs_diff`, and
`max_rel_diff` on the output's scale, its largest magnitude), the mean absolute difference
(what TFLite's inference-diff tool reports) and the normalized RMS error
||variant - source|| / ||source||, which the verdict rests on.

The tolerance is relative to what rounding at the variant's precision does to THIS source:
the source is run a second time with its float inputs perturbed by one rounding step of the
variant's arithmetic (`Precision.step`), and the variant may differ by up to
`SENSITIVITY_FACTOR` times what that perturbation moved the source (never less than for a
perfectly conditioned model, whose outputs move by one step). A deep network amplifies
rounding through its layers, and the perturbation measures how much; a well-conditioned
one keeps tight bounds. `Precision.cap` bounds the tolerance whatever the sensitivity.
A variant past the cap of a source that sensitive is neither passed nor failed: on those
inputs rounding alone could explain it, so the check is reported as not conclusive
(docs/conversion.md §10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry.convert.runners import Runner
from registry.convert.signatures import Endpoint

SEED = 0
UNKNOWN_DIM = 2
MAX_RANDOM_INT = 4  # random int inputs are in [0, 4): valid as ids, indices or counts
SENSITIVITY_FACTOR = 10
# The element-wise bound may be this many times looser than the normalized one: single
# elements stray further than the root mean square.
MAX_ELEMENT_SLACK = 3


@dataclass(frozen=True)
class Precision:
    """A variant kind's arithmetic: one rounding step, relative, and the widest tolerance."""

    step: float
    cap: float


# float32 machine epsilon for the float variants; float16's unit roundoff; half an int8 step
# (127 levels a side) for dynamic-range int8.
FLOAT32 = Precision(step=2.0**-23, cap=1e-3)
PRECISIONS: dict[str, Precision] = {
    "frozen_pb": FLOAT32,
    "savedmodel": FLOAT32,
    "tflite": FLOAT32,
    "tflite_fp16": Precision(step=2.0**-11, cap=0.1),
    "tflite_int8": Precision(step=2.0**-8, cap=0.5),
    "tflite_int8_full": Precision(step=2.0**-8, cap=0.5),
}


@dataclass(frozen=True)
class Distribution:
    """How random values for one float input are drawn, and why."""

    kind: str  # "normal" (low=mean, high=std) or "uniform" (low, high)
    low: Any
    high: Any
    why: str

    def sample(self, rng: np.random.Generator, dims: list[int]) -> np.ndarray:
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high, dims)
        return self.low + self.high * rng.standard_normal(dims)

    def describe(self) -> str:
        low, high = _short(self.low), _short(self.high)
        shape = f"uniform({low}, {high})" if self.kind == "uniform" else f"normal({low}, {high})"
        return f"{shape}: {self.why}"


def _short(value: Any) -> str:
    array = np.asarray(value, dtype=np.float64)
    if array.size == 1:
        return f"{float(array):.4g}"
    return "[" + ", ".join(f"{v:.4g}" for v in array.ravel()) + "]"


STANDARD_NORMAL = Distribution("normal", 0.0, 1.0, "the model states no input range")


def not_checked(reason: str, inputs: str | None = None) -> dict[str, Any]:
    return {"checked": False, "passed": None, "reason": reason, "inputs": inputs, "outputs": {}}


class InputsUnavailable(Exception):
    """Random values cannot stand for an input, and no example was given."""


def random_inputs(
    endpoints: list[Endpoint],
    input_shapes: dict[str, list[int]] | None = None,
    distributions: dict[str, Distribution] | None = None,
    seed: int = SEED,
) -> dict[str, np.ndarray]:
    """Seeded random arrays for each input: floats from `distributions` (else N(0,1)),
    small ints, random bools."""
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
            distribution = (distributions or {}).get(endpoint.name, STANDARD_NORMAL)
            value = distribution.sample(rng, dims).astype(dtype)
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


def perturbed(feeds: dict[str, np.ndarray], step: float, seed: int = SEED) -> dict[str, np.ndarray]:
    """The feeds with every float element moved by about one relative rounding `step`."""
    rng = np.random.default_rng(seed + 1)
    moved = {}
    for name, value in feeds.items():
        if value.dtype.kind == "f":
            noise = 1.0 + step * rng.standard_normal(value.shape)
            value = (value.astype(np.float64) * noise).astype(value.dtype)
        moved[name] = value
    return moved


def _normalized(diff: np.ndarray, reference: np.ndarray) -> float:
    """||diff|| / ||reference||: 0 when both are zero, inf when only the reference is."""
    size = float(np.linalg.norm(diff))
    scale = float(np.linalg.norm(reference))
    if scale > 0:
        return size / scale
    return 0.0 if size == 0 else float("inf")


@dataclass(frozen=True)
class Tolerance:
    """Bounds for one output: normalized RMS error, and largest element error on scale."""

    normalized_rms: float
    max_rel: float

    def as_dict(self) -> dict[str, float]:
        # abs/rel: the element bound in the form |diff| <= abs + rel * max|source|.
        return {"normalized_rms": self.normalized_rms, "abs": 0.0, "rel": self.max_rel}


def tolerance_for(
    reference: np.ndarray, moved: np.ndarray | None, precision: Precision
) -> tuple[Tolerance, dict[str, float] | None]:
    """The tolerance for one output from how far a one-step input perturbation moved it.

    Returns it with the sensitivity measured ({normalized_rms, max_rel}), or None when the
    output could not be measured (not a number, or no float input to perturb).
    """
    ref = np.asarray(reference)
    floor = SENSITIVITY_FACTOR * precision.step
    if moved is None or ref.dtype.kind not in "fciub" or moved.shape != ref.shape:
        tolerance = Tolerance(min(precision.cap, floor), min(precision.cap, floor))
        return tolerance, None
    ref64, moved64 = ref.astype(np.float64), np.asarray(moved).astype(np.float64)
    finite = np.isfinite(ref64) & np.isfinite(moved64)
    diff = np.where(finite, moved64 - ref64, 0.0)
    ref64 = np.where(finite, ref64, 0.0)
    scale = float(np.abs(ref64).max()) if ref64.size else 0.0
    sensitivity = {
        "normalized_rms": _normalized(diff, ref64),
        "max_rel": float(np.abs(diff).max()) / scale if scale > 0 else 0.0,
    }
    tolerance = Tolerance(
        min(precision.cap, max(floor, SENSITIVITY_FACTOR * sensitivity["normalized_rms"])),
        min(
            MAX_ELEMENT_SLACK * precision.cap,
            max(floor, SENSITIVITY_FACTOR * sensitivity["max_rel"]),
        ),
    )
    return tolerance, sensitivity


def compare_output(reference: np.ndarray, value: np.ndarray, tolerance: Tolerance):
    """The error measures and the verdict for one output."""
    reference, value = np.asarray(reference), np.asarray(value)
    result: dict[str, Any] = {"tolerance": tolerance.as_dict()}
    unmeasured = {
        "max_abs_diff": None,
        "max_rel_diff": None,
        "mean_abs_diff": None,
        "normalized_rms_error": None,
    }
    if reference.shape != value.shape:
        return {
            **result,
            **unmeasured,
            "passed": False,
            "reason": f"shape {list(value.shape)} differs from the source's "
            f"{list(reference.shape)}",
        }
    if reference.dtype.kind in "OSU" or value.dtype.kind in "OSU":
        same = bool(np.array_equal(reference, value))
        exact = dict.fromkeys(unmeasured, 0.0) if same else unmeasured
        return {**result, **exact, "passed": same}
    ref = reference.astype(np.float64)
    got = value.astype(np.float64)
    nan_ref, nan_got = np.isnan(ref), np.isnan(got)
    if not np.array_equal(nan_ref, nan_got):
        return {
            **result,
            **dict.fromkeys(unmeasured, float("nan")),
            "passed": False,
            "reason": "NaN where the source has a number, or the reverse",
        }
    ref = np.where(nan_ref, 0.0, ref)
    diff = np.abs(np.where(nan_ref, 0.0, ref - got))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    normalized = _normalized(diff, ref)
    figures = {
        **result,
        "max_abs_diff": max_abs,
        "max_rel_diff": max_rel,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "normalized_rms_error": normalized,
    }
    if normalized > tolerance.normalized_rms:
        return {
            **figures,
            "passed": False,
            "reason": f"normalized RMS error {normalized:.3g} > {tolerance.normalized_rms:.3g}",
        }
    if max_rel > tolerance.max_rel:
        return {
            **figures,
            "passed": False,
            "reason": f"largest element error {max_rel:.3g} of the output's scale > "
            f"{tolerance.max_rel:.3g}",
        }
    return {**figures, "passed": True}


def check_parity(
    source: Runner,
    variant: Runner,
    target_kind: str,
    renamed_inputs: dict[str, str] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    example_inputs_path: str | None = None,
    distributions: dict[str, Distribution] | None = None,
) -> dict[str, Any]:
    """Run source and variant on the same inputs; compare every source output by name."""
    label = "example_inputs" if example_inputs_path else f"random(seed={SEED})"
    try:
        if example_inputs_path:
            feeds = example_inputs(source.inputs, example_inputs_path)
        else:
            feeds = random_inputs(source.inputs, input_shapes, distributions)
    except InputsUnavailable as exc:
        return not_checked(str(exc), label)
    precision = PRECISIONS[target_kind]
    try:
        expected = source.run(feeds)
        has_floats = any(v.dtype.kind == "f" for v in feeds.values())
        moved = source.run(perturbed(feeds, precision.step)) if has_floats else {}
    except Exception as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:300]
        return not_checked(
            f"not checked: the source failed on {label} inputs ({type(exc).__name__}: "
            f"{detail}); upload example_inputs",
            label,
        )
    try:
        fed = variant_feeds(feeds, variant.inputs, renamed_inputs or {})
        produced = _run_in_fixed_batches(variant, fed)
    except Exception as exc:
        return {
            "checked": True,
            "passed": False,
            "inputs": label,
            "outputs": {},
            "reason": f"the variant failed to run: {type(exc).__name__}: {str(exc)[:300]}",
        }
    names = match_names([e.name for e in source.outputs], list(produced))
    outputs = {}
    for endpoint in source.outputs:
        tolerance, sensitivity = tolerance_for(
            expected[endpoint.name], moved.get(endpoint.name), precision
        )
        if endpoint.name not in names:
            outputs[endpoint.name] = {
                "max_abs_diff": None,
                "max_rel_diff": None,
                "passed": False,
                "tolerance": tolerance.as_dict(),
                "reason": f"the variant has no output named like '{endpoint.name}'",
            }
            continue
        figures = compare_output(expected[endpoint.name], produced[names[endpoint.name]], tolerance)
        outputs[endpoint.name] = {**figures, "sensitivity": sensitivity}
    passed = all(o["passed"] for o in outputs.values())
    failing = [n for n, o in outputs.items() if not o["passed"]]
    result = {
        "checked": True,
        "passed": passed,
        "reason": None if passed else f"outside tolerance: {', '.join(failing)}",
        "inputs": label,
        "perturbation": precision.step,
        "outputs": outputs,
    }
    if failing and all(_rounding_explains(outputs[n], precision) for n in failing):
        worst = max(outputs[n]["sensitivity"]["normalized_rms"] for n in failing)
        result.update(
            checked=False,
            passed=None,
            reason=f"not checked: on {label} inputs the source is too sensitive to tell a "
            f"faithful variant from a wrong one: inputs moved by one rounding step "
            f"({precision.step:.2g}) move {', '.join(failing)} by {worst:.2g} (normalized), "
            "so rounding alone could explain the difference; upload example_inputs",
        )
    if not example_inputs_path:
        result["input_distributions"] = {
            e.name: (distributions or {}).get(e.name, STANDARD_NORMAL).describe()
            for e in source.inputs
            if np.dtype(e.dtype).kind == "f"
        }
    return result


def _rounding_explains(figures: dict[str, Any], precision: Precision) -> bool:
    """Whether an output's failure could be rounding alone: its source is so sensitive that
    the tolerance it calls for is past the cap (a wrong shape, NaNs or a missing output
    never are)."""
    sensitivity = figures.get("sensitivity")
    error = figures.get("normalized_rms_error")
    if sensitivity is None or error is None or np.isnan(error):
        return False
    return SENSITIVITY_FACTOR * sensitivity["normalized_rms"] > precision.cap


def _run_in_fixed_batches(variant: Runner, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the variant, slice by slice when it was converted with a smaller fixed batch."""
    fixed = {e.shape[0] for e in variant.inputs if e.shape and e.shape[0] > 0}
    rows = {len(v) for v in feeds.values() if v.ndim}
    if len(fixed) != 1 or len(rows) != 1:
        return variant.run(feeds)
    size, total = fixed.pop(), rows.pop()
    if size >= total or total % size:
        return variant.run(feeds)
    parts = [
        variant.run({k: v[start : start + size] for k, v in feeds.items()})
        for start in range(0, total, size)
    ]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def variant_feeds(
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
