"""The catalog: models, their versions and aliases, uploads, stored artifacts and lineage.

- `models`: create, find and list models; resolve a version by number, alias or `latest`;
- `cards`: a model's card (markdown), set by hand or from an upload's README.md;
- `reads`: versions and models as the read-only API views answer them, read from rows in one
  or two statements (`read_version`, `read_versions`, `read_model`, `read_models`);
- `uploads`: an uploaded blob checked and recorded as a new version with its jobs
  (`create_version`, `UploadOptions`, `write_blob`);
- `aliases`: `set_alias` (gated by the version's checks and by signature compatibility),
  `rollback_alias` and `remove_alias`;
- `alias_history`: an alias's changes from the audit log, the version it named before, and
  the version it named at a time (`alias_history`, `version_before`, `version_at`);
- `comparison`: two versions' signatures and variants side by side, each signature change
  classified for a serving client (`compare_versions`, `compare_variants`);
- `compatibility`: each version's recorded comparisons with the version before it and the
  aliased versions (`plan_comparisons`, `comparisons_settled`), `compare_known`;
- `artifacts`: `find_artifact`, and bytes read back with their sha256 checked
  (`verified_stream`, `download_verified`);
- `lineage`: `lineage_of` a version, `holders_of` some bytes, `to_dot`;
- `serving`: a TF Serving layout of aliased versions (`plan_export`, `write_export`);
- `lifecycle`: deleting versions and models, and retention (`delete_version`, `delete_model`,
  `apply_retention`);
- `collection`: `registry gc`, stored bytes nothing needs (`list_stored`, `plan_collection`,
  `collect`);
- `integrity`: `registry verify`, stored bytes re-hashed (`recorded_artifacts`,
  `check_stored_bytes`).
"""

from registry.domain.catalog.models import (
    MAX_VERSION_NUMBER,
    ModelExists,
    allocate_version_number,
    create_model,
    get_model,
    get_or_create_model,
    latest_version,
    list_models,
    list_versions,
    resolve_version,
    safe_filename,
)

__all__ = [
    "MAX_VERSION_NUMBER",
    "ModelExists",
    "allocate_version_number",
    "create_model",
    "get_model",
    "get_or_create_model",
    "latest_version",
    "list_models",
    "list_versions",
    "resolve_version",
    "safe_filename",
]
