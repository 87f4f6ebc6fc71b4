"""TF Serving's `models.config` for exported models: where each lives, which versions to load,
and the version labels (aliases) that route requests by name rather than by number.

The text is TF Serving's model config text format (a `ModelServerConfig` protocol buffer), read
by `tensorflow_model_server --model_config_file=models.config`. Every labelled version is in the
`specific` version policy: TF Serving only accepts labels of versions it has loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from registry.client.errors import Refused

CONFIG_NAME = "models.config"


@dataclass(frozen=True)
class ServedModel:
    """A model unpacked for TF Serving: `base_path/<version>/saved_model.pb` for each version."""

    name: str
    base_path: Path
    versions: list[int]
    labels: dict[str, int] = field(default_factory=dict)  # alias -> version number


@dataclass(frozen=True)
class ServingTree:
    """An export of several models: their trees, the config naming them, what was skipped."""

    config: Path
    models: list[ServedModel]
    skipped: dict[str, str] = field(default_factory=dict)  # model name -> why


def parse_labels(header: str) -> dict[str, int]:
    """`production=3,staging=4` (the export's Registry-Version-Labels) -> {alias: version}."""
    labels = {}
    for pair in header.split(","):
        alias, _, number = pair.strip().partition("=")
        if alias and number.isdigit():
            labels[alias] = int(number)
    return labels


def model_server_config(models: list[ServedModel], serving_root: Path | None = None) -> str:
    """The `ModelServerConfig` text naming every model, its versions and its labels.

    `base_path` is each model's absolute directory, or its place under `serving_root` when
    TF Serving sees the exported tree elsewhere (e.g. mounted at /models in a container).
    """
    configs = []
    for model in models:
        base = serving_root / model.base_path.name if serving_root else model.base_path.resolve()
        lines = [
            "  config {",
            f"    name: {_quoted(model.name)}",
            f"    base_path: {_quoted(str(base))}",
            '    model_platform: "tensorflow"',
            "    model_version_policy {",
            "      specific {",
            *(f"        versions: {number}" for number in sorted(model.versions)),
            "      }",
            "    }",
        ]
        for alias, number in sorted(model.labels.items()):
            lines.append(f"    version_labels {{ key: {_quoted(alias)} value: {number} }}")
        configs.append("\n".join([*lines, "  }"]))
    return "model_config_list {\n" + "\n".join(configs) + "\n}\n"


def refuse_existing(path: Path) -> None:
    """Refuse an export whose config would overwrite one already there."""
    if path.exists():
        raise Refused(f"{path} exists already: export into another directory")


def write_config(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all, never over an existing file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    try:
        os.link(partial, path)  # fails if `path` exists: never overwritten
    except FileExistsError:
        refuse_existing(path)
    finally:
        partial.unlink()


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
