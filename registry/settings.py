"""One settings object, read once from REGISTRY_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "tf-registry"


def _parse_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Every knob of the registry. Field `x` is read from `REGISTRY_X`.

    Empty database/storage/broker URLs mean the embedded default under `data_dir`:
    a SQLite file, a local artifact directory and a server-less SQLite broker.
    """

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    # `s3://bucket/prefix` or a local directory path (`file:///abs/dir` or `/abs/dir`).
    storage_url: str = ""
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    broker_url: str = ""

    # Upload limits.
    max_upload_bytes: int = 4 * 1024**3
    max_archive_entries: int = 10_000
    max_unpacked_bytes: int = 16 * 1024**3
    max_compression_ratio: int = 200

    # Transfer tuning: S3 multipart part size and parts in flight per upload.
    part_size_bytes: int = 16 * 1024**2
    parts_in_flight: int = 4
    # Bounds of every S3 call (retries are botocore's, 3 attempts): see storage CallPolicy.
    s3_connect_timeout_seconds: int = 3
    s3_read_timeout_seconds: int = 20

    # Conversion jobs.
    job_timeout_seconds: int = 600
    job_memory_limit_mb: int = 8192
    job_max_attempts: int = 3
    job_lease_seconds: int = 900
    sweep_interval_seconds: int = 30

    # Level of the JSON log lines every process writes to stderr (DEBUG, INFO, WARNING...).
    log_level: str = "INFO"

    # Access and audit: reads without a token, and an audit event for every artifact download.
    anonymous_read: bool = False
    audit_downloads: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Settings from `REGISTRY_*` variables; keyword overrides win over the environment."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"REGISTRY_{f.name.upper()}")
            if raw is None:
                continue
            default = f.default
            if isinstance(default, bool):
                values[f.name] = _parse_bool(raw)
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The `REGISTRY_*` variables that reproduce these settings in another process."""
        return {f"REGISTRY_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite'}"

    @property
    def effective_storage_url(self) -> str:
        return self.storage_url or str(self.data_dir / "artifacts")

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.data_dir / 'broker.sqlite'}"

    @property
    def work_dir(self) -> Path:
        """Scratch space for conversions (unpacked sources, outputs before upload)."""
        return self.data_dir / "work"
