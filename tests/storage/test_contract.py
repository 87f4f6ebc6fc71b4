"""Behaviour every Storage must have, run on LocalStorage and on S3Storage."""

from __future__ import annotations

import hashlib
import io
import os
import random
import tarfile
import zipfile

import pytest

from registry.storage import (
    CHUNK_SIZE,
    BlobNotFound,
    DigestMismatch,
    Storage,
    WrittenBlob,
    blob_key,
)

MiB = 1024 * 1024


def write(storage: Storage, data: bytes, chunk: int = 64 * 1024) -> WrittenBlob:
    writer = storage.writer()
    for i in range(0, len(data), chunk):
        writer.write(data[i : i + chunk])
    return writer.close()


def read_all(storage: Storage, key: str) -> bytes:
    return b"".join(storage.iter_bytes(key))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_small_blob_round_trips_with_its_sha256_and_size(storage):
    data = b"a small blob\n" * 100

    blob = write(storage, data)
    key = storage.promote(blob)

    assert (blob.sha256, blob.size) == (sha(data), len(data))
    assert key == blob_key(sha(data))
    assert read_all(storage, key) == data
    assert storage.open(key).read() == data


def test_empty_blob_round_trips(storage):
    blob = storage.writer().close()
    key = storage.promote(blob)

    assert (blob.sha256, blob.size) == (sha(b""), 0)
    assert read_all(storage, key) == b""
    assert storage.open(key).read() == b""


def test_multipart_blob_written_in_uneven_chunks_round_trips(storage):
    # ~12 MiB: three 5 MiB parts on S3; chunks that straddle part boundaries.
    data = os.urandom(12 * MiB + 12345)

    blob = write(storage, data, chunk=1_000_003)
    key = storage.promote(blob)

    assert (blob.sha256, blob.size) == (sha(data), len(data))
    assert sha(read_all(storage, key)) == sha(data)


def test_blob_of_exactly_one_part_round_trips(storage):
    data = os.urandom(5 * MiB)

    blob = write(storage, data, chunk=MiB)

    assert (blob.sha256, blob.size) == (sha(data), len(data))
    assert read_all(storage, storage.promote(blob)) == data


def test_temporary_blob_is_not_under_blobs_before_promote(storage):
    data = b"not yet visible"

    blob = write(storage, data)

    assert list(storage.keys("blobs/")) == []
    assert not storage.exists(blob_key(blob.sha256))
    assert storage.exists(blob.temp_key)
    assert blob.temp_key.startswith("tmp/")
    assert read_all(storage, blob.temp_key) == data

    key = storage.promote(blob)

    assert list(storage.keys("blobs/")) == [key]
    assert not storage.exists(blob.temp_key)


def test_abort_midway_leaves_no_object(storage):
    writer = storage.writer()
    for _ in range(12):
        writer.write(os.urandom(MiB))

    writer.abort()
    writer.abort()  # a second abort is harmless

    assert list(storage.keys()) == []
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_abort_after_close_removes_the_temporary_object(storage):
    writer = storage.writer()
    writer.write(b"written, then thrown away")
    blob = writer.close()

    writer.abort()

    assert not storage.exists(blob.temp_key)
    assert list(storage.keys()) == []


def test_promote_of_existing_content_drops_the_duplicate(storage):
    data = os.urandom(6 * MiB)
    first = write(storage, data)
    second = write(storage, data)

    key1 = storage.promote(first)
    key2 = storage.promote(second)

    assert key1 == key2 == blob_key(sha(data))
    assert list(storage.keys()) == [key1]
    assert sha(read_all(storage, key1)) == sha(data)


def test_promote_of_different_contents_gives_different_keys(storage):
    k1 = storage.promote(write(storage, b"one"))
    k2 = storage.promote(write(storage, b"two"))

    assert k1 != k2
    assert sorted(storage.keys("blobs/")) == sorted([k1, k2])
    assert read_all(storage, k1) == b"one"
    assert read_all(storage, k2) == b"two"


def test_iter_bytes_returns_inclusive_ranges_in_bounded_chunks(storage):
    data = os.urandom(3 * MiB + 17)
    key = storage.promote(write(storage, data))
    rng = random.Random(7)

    cases = [(0, None), (0, 0), (len(data) - 1, None), (5, len(data) - 1), (CHUNK_SIZE, None)]
    cases += [(a, rng.randrange(a, len(data))) for a in rng.sample(range(len(data)), 8)]
    for start, end in cases:
        chunks = list(storage.iter_bytes(key, start, end))
        expected = data[start:] if end is None else data[start : end + 1]
        assert b"".join(chunks) == expected, (start, end)
        assert all(0 < len(c) <= CHUNK_SIZE for c in chunks)


def test_iter_bytes_past_the_end_is_clamped(storage):
    data = b"0123456789"
    key = storage.promote(write(storage, data))

    assert b"".join(storage.iter_bytes(key, 4, 1000)) == b"456789"


def test_open_seeks_and_reads_like_a_file(storage):
    data = os.urandom(3 * MiB + 333)
    key = storage.promote(write(storage, data))
    expected = io.BytesIO(data)
    rng = random.Random(42)

    with storage.open(key) as f:
        assert f.seekable() and f.readable()
        for _ in range(200):
            op = rng.choice(["seek_set", "seek_cur", "seek_end", "read", "read", "tell"])
            if op == "seek_set":
                pos = rng.randrange(0, len(data) + 10)
                assert f.seek(pos) == expected.seek(pos)
            elif op == "seek_cur":
                delta = rng.randrange(-expected.tell(), 100_000)
                assert f.seek(delta, io.SEEK_CUR) == expected.seek(delta, io.SEEK_CUR)
            elif op == "seek_end":
                delta = -rng.randrange(0, len(data))
                assert f.seek(delta, io.SEEK_END) == expected.seek(delta, io.SEEK_END)
            elif op == "read":
                n = rng.choice([0, 1, 100, 4096, 70_000, 2 * MiB])
                assert f.read(n) == expected.read(n)
            assert f.tell() == expected.tell()
        f.seek(0)
        assert sha(f.read()) == sha(data)


def test_zipfile_reads_members_through_open(storage):
    members = {f"dir/file{i}.bin": os.urandom(200_000 * (i + 1)) for i in range(4)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    key = storage.promote(write(storage, buffer.getvalue()))

    with storage.open(key) as f, zipfile.ZipFile(f) as archive:
        assert sorted(archive.namelist()) == sorted(members)
        assert archive.testzip() is None
        for name in reversed(list(members)):
            assert archive.read(name) == members[name]


def test_tarfile_reads_members_through_open(storage):
    members = {f"model/var{i}": os.urandom(300_000) for i in range(3)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    key = storage.promote(write(storage, buffer.getvalue()))

    with storage.open(key) as f, tarfile.open(fileobj=f, mode="r:*") as archive:
        assert sorted(archive.getnames()) == sorted(members)
        for name, payload in members.items():
            assert archive.extractfile(name).read() == payload


def test_missing_key_is_blob_not_found(storage):
    missing = blob_key("0" * 64)

    assert not storage.exists(missing)
    with pytest.raises(BlobNotFound):
        storage.open(missing)
    with pytest.raises(BlobNotFound):
        list(storage.iter_bytes(missing))


def test_delete_removes_a_key_and_tolerates_a_missing_one(storage):
    key = storage.promote(write(storage, b"delete me"))

    storage.delete(key)
    storage.delete(key)

    assert not storage.exists(key)
    assert list(storage.keys()) == []


def test_keys_are_relative_and_filtered_by_prefix(storage):
    k1 = storage.promote(write(storage, b"one"))
    k2 = storage.promote(write(storage, b"two"))
    temp = write(storage, b"three").temp_key

    assert sorted(storage.keys()) == sorted([k1, k2, temp])
    assert sorted(storage.keys("blobs/sha256/")) == sorted([k1, k2])
    assert list(storage.keys("tmp/")) == [temp]
    assert list(storage.keys("nothing-here/")) == []


def test_check_passes_on_a_working_store(storage):
    storage.check()


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single-put", "multipart"])
def test_writer_promised_the_digest_makes_the_blob_visible_under_its_content_key(storage, size):
    data = os.urandom(size)
    writer = storage.writer(expected_sha256=sha(data))
    for i in range(0, size, MiB):
        writer.write(data[i : i + MiB])

    key = storage.promote(writer.close())

    assert key == blob_key(sha(data))
    assert read_all(storage, key) == data
    assert not list(storage.keys("tmp/"))


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["single-put", "multipart"])
def test_writer_promised_a_wrong_digest_refuses_and_leaves_nothing(storage, size):
    data = os.urandom(size)
    promised = sha(b"other bytes")
    writer = storage.writer(expected_sha256=promised)
    for i in range(0, size, MiB):
        writer.write(data[i : i + MiB])

    with pytest.raises(DigestMismatch, match=promised):
        writer.close()

    assert not storage.exists(blob_key(promised))
    assert not storage.exists(blob_key(sha(data)))
    assert not list(storage.keys("tmp/"))


@pytest.mark.parametrize("size", [2 * MiB, 12 * MiB], ids=["single-put", "multipart"])
def test_writer_promised_bytes_already_stored_keeps_them_intact(storage, size):
    data = os.urandom(size)
    storage.promote(write(storage, data))

    writer = storage.writer(expected_sha256=sha(data))
    for i in range(0, size, MiB):
        writer.write(data[i : i + MiB])
    blob = writer.close()

    assert storage.promote(blob) == blob_key(sha(data))
    assert read_all(storage, blob_key(sha(data))) == data
