"""`registry gc` and `registry verify`: stored bytes nothing needs are removed, and never bytes
something needs, also while uploads run; recorded bytes missing or corrupt are reported.
Each test has a registry of its own, so what gc finds is its own doing."""

from __future__ import annotations

import getpass
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from registry.cli import main
from registry.client import RegistryClient
from registry.db.models import Artifact
from registry.domain import jobs
from registry.domain.catalog import collection
from registry.domain.catalog.direct_uploads import DIRECT_PREFIX
from registry.storage import LocalStorage, StoredPart, WrittenBlob, blob_key
from tests.api.test_promotion import stored_version
from tests.conftest import backend_settings, start_live_registry
from tests.files import fake_tflite

# Long enough for an upload between writing its bytes and committing them, on a busy machine.
CONCURRENT_GRACE_SECONDS = 8


@pytest.fixture(params=["postgres", "sqlite"])
def own_registry(request, tmp_path, s3_server, postgres_schema_url, api_broker):
    settings = backend_settings(
        request.param, tmp_path / "registry", s3_server, postgres_schema_url, api_broker
    )
    live, stop = start_live_registry(settings)
    yield live
    stop()


def run(registry, *args: str, grace: int = 0) -> Result:
    """`registry ARGS` on the registry's database and storage, with its settings."""
    env = registry.settings.with_changes(gc_grace_seconds=grace).to_env()
    return CliRunner().invoke(main, list(args), env=env)


def gc(registry, *args: str, grace: int = 0) -> dict:
    result = run(registry, "gc", "--json", *args, grace=grace)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def upload(registry, model: str, path: Path, **fields) -> dict:
    response = registry.upload(model, path, **fields)
    assert response.status_code == 202, response.text
    return response.json()


def stray_blob(registry, data: bytes, *, promoted: bool) -> tuple[str, int]:
    """Bytes written and never recorded, as a crash before the commit leaves them."""
    storage = registry.services.storage
    writer = storage.writer()
    writer.write(data)
    blob: WrittenBlob = writer.close()
    key = storage.promote(blob) if promoted else blob.temp_key
    return key, len(data)


def download(registry, model: str, number: int) -> bytes:
    url = registry.api(f"/models/{model}/versions/{number}/artifacts/tflite")
    response = registry.http.get(url)
    assert response.status_code == 200, response.text
    return response.content


def test_gc_removes_what_deleted_versions_and_crashes_left_and_keeps_live_bytes(
    own_registry, tmp_path
):
    registry = own_registry
    live = fake_tflite(tmp_path / "live.tflite")
    upload(registry, "kept", live)
    deleted = upload(registry, "kept", fake_tflite(tmp_path / "deleted.tflite"))["artifacts"][0]
    registry.http.delete(registry.api("/models/kept/versions/2")).raise_for_status()
    temporary = stray_blob(registry, b"an upload cut off", promoted=False)
    unrecorded = stray_blob(registry, b"a conversion whose commit failed", promoted=True)
    garbage = {blob_key(deleted["sha256"]): deleted["size"], **dict([temporary, unrecorded])}

    dry = gc(registry, "--dry-run")
    told = run(registry, "gc", "--dry-run").stdout
    after_dry_run = set(registry.services.storage.keys())
    real = gc(registry)
    again = gc(registry)

    assert dry["dry_run"] is True and sorted(dry["removed_keys"]) == sorted(garbage)
    assert set(garbage) <= after_dry_run
    assert "4 stored objects" in told and "would remove 3 objects" in told
    assert sorted(real["removed_keys"]) == sorted(garbage)
    assert real["removed"] == {"objects": 3, "bytes": sum(garbage.values())}
    assert real["kept"]["needed"] == 1
    assert not set(garbage) & set(registry.services.storage.keys())
    assert download(registry, "kept", 1) == live.read_bytes()
    assert again["removed"]["objects"] == 0


@pytest.mark.parametrize("own_registry", ["postgres"], indirect=True)
def test_gc_keeps_direct_uploads_where_they_were_joined_and_removes_unrecorded_ones(
    own_registry, tmp_path
):
    """A direct upload's bytes stay at a key of their own, not their content key: kept while a
    live version refers to them, removed once it is deleted or when never recorded."""
    registry, storage = own_registry, own_registry.services.storage
    live, deleted = (fake_tflite(tmp_path / f"{name}.tflite") for name in ("live", "deleted"))
    with RegistryClient(registry.url, registry.token, direct_upload_threshold=1) as client:
        client.upload("direct", live)
        [live_key] = storage.keys(DIRECT_PREFIX)
        client.upload("direct", deleted)
    registry.http.delete(registry.api("/models/direct/versions/2")).raise_for_status()
    [deleted_key] = set(storage.keys(DIRECT_PREFIX)) - {live_key}
    joined = storage.start_direct_upload(f"{DIRECT_PREFIX}joined-then-crashed/")
    put = httpx.put(storage.part_url(joined, 1, 60), content=b"never checked", timeout=30)
    put.raise_for_status()
    storage.complete_direct_upload(joined, [StoredPart(1, 0, put.headers["ETag"].strip('"'))])

    report = gc(registry)
    verified = run(registry, "verify")

    assert sorted(report["removed_keys"]) == sorted([deleted_key, joined.key])
    assert list(storage.keys(DIRECT_PREFIX)) == [live_key]
    assert download(registry, "direct", 1) == live.read_bytes()
    assert verified.exit_code == 0 and "checked 1 artifacts" in verified.stdout


def test_gc_keeps_unrecorded_bytes_younger_than_the_grace_period(own_registry, tmp_path):
    registry = own_registry
    upload(registry, "young", fake_tflite(tmp_path / "v1.tflite"))
    registry.http.delete(registry.api("/models/young/versions/1")).raise_for_status()
    temporary, _ = stray_blob(registry, b"an upload still streaming", promoted=False)
    unrecorded, _ = stray_blob(registry, b"a conversion about to commit", promoted=True)
    before = set(registry.services.storage.keys())

    report = gc(registry, grace=3600)

    assert report["removed"]["objects"] == 0
    assert report["kept"]["fresh"] == 2  # the deleted version's bytes: deleted within grace
    assert report["kept"]["needed"] == 1
    assert {temporary, unrecorded} <= set(registry.services.storage.keys()) == before


def test_gc_keeps_the_ancestry_of_live_artifacts_even_in_deleted_versions(own_registry, tmp_path):
    """A live artifact derived from one of a deleted version keeps its parent's bytes."""
    registry = own_registry
    parent = upload(registry, "tree", fake_tflite(tmp_path / "v1.tflite"))["artifacts"][0]
    upload(registry, "tree", fake_tflite(tmp_path / "v2.tflite"))
    child_key, child_size = stray_blob(registry, b"derived from version 1", promoted=True)
    with registry.services.sessions.begin() as session:
        source = stored_version(session, "tree", 1).artifacts[0]
        session.add(
            Artifact(
                version=stored_version(session, "tree", 2),
                kind="tflite_int8",
                sha256=child_key.rsplit("/", 1)[1],
                size=child_size,
                storage_key=child_key,
                parent=source,
            )
        )
    registry.http.delete(registry.api("/models/tree/versions/1")).raise_for_status()

    report = gc(registry)

    assert report["removed"]["objects"] == 0
    assert {blob_key(parent["sha256"]), child_key} <= set(registry.services.storage.keys())


def test_gc_keep_last_deletes_older_unaliased_versions_after_a_dry_run(own_registry, tmp_path):
    registry = own_registry
    for number in range(1, 5):
        upload(registry, "kept-two", fake_tflite(tmp_path / f"v{number}.tflite"))
    aliases = registry.api("/models/kept-two/aliases")
    registry.http.put(f"{aliases}/production", json={"version": 1}).raise_for_status()

    dry = gc(registry, "--keep-last", "2", "--dry-run")
    listed_after_dry_run = registry.http.get(registry.api("/models/kept-two/versions")).json()
    real = gc(registry, "--keep-last", "2")
    listed = registry.http.get(registry.api("/models/kept-two/versions")).json()
    later = gc(registry)

    assert dry["versions_deleted"] == [{"model": "kept-two", "version": 2}]
    assert len(listed_after_dry_run["versions"]) == 4
    assert real["versions_deleted"] == [{"model": "kept-two", "version": 2}]
    assert [v["version"] for v in listed["versions"]] == [1, 3, 4]
    assert real["removed"]["objects"] == 0  # deleted just now: within the grace period
    assert later["removed"]["objects"] == 1
    [event] = registry.audit_events(model="kept-two", action="version.deleted")
    assert event["actor"] == f"cli:{getpass.getuser()}"
    assert event["details"]["reason"] == "retention: keep the last 2"


@pytest.mark.parametrize("promised", [False, True], ids=["plain", "sha256-promised"])
def test_bytes_uploaded_again_between_gc_planning_and_removing_them_are_kept(
    own_registry, tmp_path, promised
):
    """The interleaving a careless gc would lose data in: the bytes of a version deleted long
    ago are uploaded again after gc judged them garbage and before it removes them."""
    registry, storage = own_registry, own_registry.services.storage
    path = fake_tflite(tmp_path / "again.tflite")
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    upload(registry, "again", path)
    registry.http.delete(registry.api("/models/again/versions/1")).raise_for_status()
    time.sleep(2.1)  # older than the grace period below, at S3's one-second resolution
    stored = collection.list_stored(storage)
    with registry.services.sessions() as session:
        plan = collection.plan_collection(session, stored, timedelta(seconds=1))

    upload(registry, "again", path, **({"sha256": sha256} if promised else {}))
    report = collection.collect(storage, plan, dry_run=False)

    assert [blob.key for blob in plan.garbage] == [blob_key(sha256)]
    assert (report.removed, report.refreshed) == (0, 1)
    assert download(registry, "again", 2) == path.read_bytes()


def test_a_deleted_versions_variant_is_not_reused_for_a_new_conversion(own_registry, tmp_path):
    registry = own_registry
    upload(registry, "reuse", fake_tflite(tmp_path / "v1.tflite"))
    with registry.services.sessions.begin() as session:
        version = stored_version(session, "reuse", 1)
        [job], [artifact] = version.jobs, version.artifacts
        job.outcome, artifact.job_id = {"cache_key": "same-inputs"}, job.id
    with registry.services.sessions() as session:
        reusable_before = jobs.find_reusable(session, "same-inputs") is not None
    registry.http.delete(registry.api("/models/reuse/versions/1")).raise_for_status()

    with registry.services.sessions() as session:
        reusable_after = jobs.find_reusable(session, "same-inputs")

    assert reusable_before and reusable_after is None


def test_gc_running_beside_uploads_and_deletions_never_removes_recorded_bytes(
    own_registry, tmp_path
):
    """Uploads of new bytes, of bytes live versions hold, and of bytes only a long-deleted
    version held (stale garbage, the case a careless gc would break), with and without their
    sha256 promised, while gc runs again and again; then every live artifact is re-hashed."""
    registry = own_registry
    files = [fake_tflite(tmp_path / f"f{i}.tflite", size=64 * 1024) for i in range(4)]
    for path in files[:2]:
        upload(registry, "churn", path)
    # Stale garbage: bytes of a version deleted longer ago than the grace period.
    upload(registry, "churn", files[2])
    registry.http.delete(registry.api("/models/churn/versions/3")).raise_for_status()
    time.sleep(CONCURRENT_GRACE_SECONDS + 1)
    stop = threading.Event()
    reports: list[dict] = []

    def collect_repeatedly() -> None:
        while not stop.is_set():
            reports.append(gc(registry, grace=CONCURRENT_GRACE_SECONDS))

    def upload_one(i: int) -> dict:
        path = files[i % len(files)]
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        version = upload(registry, "churn", path, **({"sha256": sha256} if i % 2 else {}))
        if i % 3 == 0:
            url = registry.api(f"/models/churn/versions/{version['version']}")
            registry.http.delete(url).raise_for_status()
        return version

    collector = threading.Thread(target=collect_repeatedly)
    collector.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            uploaded = list(pool.map(upload_one, range(24)))
    finally:
        stop.set()
        collector.join(timeout=120)
    final = gc(registry, grace=CONCURRENT_GRACE_SECONDS)
    verified = run(registry, "verify", "--json")

    assert not collector.is_alive() and len(reports) >= 2
    assert len(uploaded) == 24
    assert verified.exit_code == 0, verified.output
    checked = json.loads(verified.stdout)
    assert checked["problems"] == []
    assert checked["checked"]["artifacts"] == 2 + 24 - 8  # 8 of the 24 were deleted
    assert final["kept"]["needed"] == 4  # every file is held by a live version


def overwrite(storage, key: str, data: bytes) -> None:
    """Bytes under `key` other than the ones its name promises: a store gone bad."""
    writer = storage.writer()
    writer.write(data)
    blob = writer.close()
    if isinstance(storage, LocalStorage):
        (storage.root / blob.temp_key).replace(storage.root / key)
    else:
        storage.copy(blob.temp_key, key, blob.size)
        storage.delete(blob.temp_key)


def test_verify_reports_missing_and_corrupt_artifacts_by_model_version_and_kind(
    own_registry, tmp_path
):
    registry, storage = own_registry, own_registry.services.storage
    artifacts = [
        upload(registry, "checked", fake_tflite(tmp_path / f"v{n}.tflite"))["artifacts"][0]
        for n in (1, 2, 3)
    ]
    upload(registry, "other", fake_tflite(tmp_path / "other.tflite"))
    intact = run(registry, "verify")
    storage.delete(blob_key(artifacts[0]["sha256"]))
    overwrite(storage, blob_key(artifacts[1]["sha256"]), b"flipped bits")

    found = run(registry, "verify", "--json")
    one_model = run(registry, "verify", "--model", "other", "--json")
    human = run(registry, "verify")

    assert intact.exit_code == 0 and "checked 4 artifacts" in intact.stdout
    assert "all intact" in intact.stdout
    assert found.exit_code == 1
    report = json.loads(found.stdout)
    assert report["checked"]["artifacts"] == 4
    problems = {(p["model"], p["version"], p["kind"]): p for p in report["problems"]}
    assert set(problems) == {("checked", 1, "tflite"), ("checked", 2, "tflite")}
    assert problems["checked", 1, "tflite"]["problem"] == "missing"
    corrupt = problems["checked", 2, "tflite"]
    assert corrupt["problem"] == "corrupt"
    assert corrupt["found_sha256"] == hashlib.sha256(b"flipped bits").hexdigest()
    assert corrupt["found_size"] == len(b"flipped bits")
    assert one_model.exit_code == 0 and json.loads(one_model.stdout)["problems"] == []
    assert human.exit_code == 1
    assert "checked@1 tflite: MISSING" in human.stdout
    assert "checked@2 tflite: CORRUPT" in human.stdout


def test_verify_skips_deleted_versions_and_refuses_an_unknown_model(own_registry, tmp_path):
    registry, storage = own_registry, own_registry.services.storage
    gone = upload(registry, "partly", fake_tflite(tmp_path / "v1.tflite"))["artifacts"][0]
    upload(registry, "partly", fake_tflite(tmp_path / "v2.tflite"))
    registry.http.delete(registry.api("/models/partly/versions/1")).raise_for_status()
    storage.delete(blob_key(gone["sha256"]))

    checked = run(registry, "verify", "--model", "partly")
    unknown = run(registry, "verify", "--model", "no-such-model")

    assert checked.exit_code == 0 and "checked 1 artifacts" in checked.stdout
    assert unknown.exit_code == 1 and "no model named 'no-such-model'" in unknown.output
