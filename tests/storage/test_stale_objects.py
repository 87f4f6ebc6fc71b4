"""What `registry gc` needs of a store, on LocalStorage and S3Storage: objects listed with their
age, deleted only when stale, and bytes promoted again made fresh again."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

from registry.storage import Storage, blob_key
from tests.storage.conftest import MiB, make_s3_storage

# S3 keeps modification times to the second.
TIME_RESOLUTION = timedelta(seconds=1)


def promote(storage: Storage, data: bytes) -> str:
    writer = storage.writer()
    writer.write(data)
    return storage.promote(writer.close())


def listed(storage: Storage, prefix: str = "") -> dict:
    return {blob.key: blob for blob in storage.list_blobs(prefix)}


def test_listing_gives_every_object_with_its_size_and_when_it_was_written(storage):
    before = datetime.now(UTC) - TIME_RESOLUTION
    key = promote(storage, b"promoted bytes")
    writer = storage.writer()
    writer.write(b"still temporary")
    temporary = writer.close()

    found = listed(storage)

    assert set(found) == {key, temporary.temp_key}
    assert found[key].size == len(b"promoted bytes")
    assert found[temporary.temp_key].size == len(b"still temporary")
    assert all(before <= blob.modified_at <= datetime.now(UTC) for blob in found.values())
    assert set(listed(storage, "blobs/")) == {key}


def test_delete_stale_spares_an_object_written_at_or_after_the_cutoff(storage):
    key = promote(storage, b"some bytes")
    written = listed(storage)[key].modified_at

    spared = storage.delete_stale(key, written)
    deleted = storage.delete_stale(key, written + TIME_RESOLUTION)

    assert (spared, deleted) == (False, True)
    assert not storage.exists(key)
    assert storage.delete_stale(key, written + TIME_RESOLUTION) is False


def test_promoting_bytes_held_already_makes_them_fresh(storage):
    key = promote(storage, b"bytes uploaded twice")
    first = listed(storage)[key].modified_at
    time.sleep(TIME_RESOLUTION.total_seconds() + 0.1)

    again = promote(storage, b"bytes uploaded twice")

    assert again == key
    assert listed(storage)[key].modified_at > first
    assert storage.delete_stale(key, first + TIME_RESOLUTION) is False
    assert b"".join(storage.iter_bytes(key)) == b"bytes uploaded twice"
    assert set(listed(storage)) == {key}  # the temporary copy is gone


def test_s3_write_of_held_bytes_to_their_content_key_makes_them_fresh(s3_storage):
    data = b"sent with their digest promised"
    sha256 = hashlib.sha256(data).hexdigest()
    key = promote(s3_storage, data)
    first = listed(s3_storage)[key].modified_at
    time.sleep(TIME_RESOLUTION.total_seconds() + 0.1)

    writer = s3_storage.writer(sha256)
    writer.write(data)
    blob = writer.close()

    assert blob.temp_key == key == blob_key(sha256)
    assert listed(s3_storage)[key].modified_at > first
    assert b"".join(s3_storage.iter_bytes(key)) == data


def test_s3_refresh_of_a_large_held_object_copies_it_onto_itself_in_ranges(s3_client, s3_bucket):
    storage = make_s3_storage(s3_client, s3_bucket, copy_threshold=5 * MiB, copy_part_size=5 * MiB)
    data = os.urandom(11 * MiB)
    key = promote(storage, data)
    first = listed(storage)[key].modified_at
    time.sleep(TIME_RESOLUTION.total_seconds() + 0.1)

    writer = storage.writer(hashlib.sha256(data).hexdigest())  # held: nothing is sent
    writer.write(data)
    writer.close()

    assert listed(storage)[key].modified_at > first
    assert b"".join(storage.iter_bytes(key)) == data
    assert set(listed(storage)) == {key}
    storage.close()
