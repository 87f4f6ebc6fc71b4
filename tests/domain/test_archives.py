"""Archive safety (detection and extraction) and deterministic packing, without TensorFlow."""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import stat
import tarfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest

from registry.archives.directories import extract_archive, pack_directory
from registry.archives.limits import ArchiveLimits
from registry.domain.inspection.detection import detect_upload
from registry.errors import ArchiveTooLarge, InvalidArchive

LIMITS = ArchiveLimits(max_entries=100, max_unpacked_bytes=1 << 30, max_compression_ratio=200)
GRAPH = b"\x0a\x05\x0a\x01x\x12\x00"  # something that starts like a GraphDef


# --- building archives -------------------------------------------------------------------


def file_info(name: str, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def special_info(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def write_tgz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def write_zip(
    path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix
    info.external_attr = mode << 16
    return info


def opener(path: Path):
    return lambda: open(path, "rb")


def detect(path: Path, limits: ArchiveLimits = LIMITS):
    return detect_upload(opener(path), path.name, "auto", limits)


class Zeros(io.RawIOBase):
    """`size` zero bytes, produced as they are read."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


class LazyGzipBomb(io.RawIOBase):
    """A tar.gz with one member of `size` zero bytes, compressed only as far as it is read."""

    def __init__(self, size: int, name: str = "zeros.bin") -> None:
        header = file_info(name, size).tobuf(format=tarfile.GNU_FORMAT)
        self._parts = self._generate(header, size)
        self._buf = b""
        self.compressed_read = 0

    @staticmethod
    def _generate(header: bytes, size: int):
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        yield c.compress(header)
        zero = bytes(1 << 20)
        for _ in range(size >> 20):
            yield c.compress(zero)
        yield c.flush()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            self._buf = next(self._parts, None)
            if self._buf is None:
                self._buf = b""
                return 0
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        self.compressed_read += n
        return n


def model_tree(root: Path) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "saved_model.pb").write_bytes(b"\x08\x01\x12\x00")
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(3000))
    return root


def good_members() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [(special_info("model", tarfile.DIRTYPE), None), (file_info("model/frozen.pb"), GRAPH)]


# --- unsafe entries ----------------------------------------------------------------------

UNSAFE_TAR = [
    (
        file_info("../../etc/passwd"),
        b"x",
        "archive entry '../../etc/passwd' escapes the archive root",
    ),
    (file_info("model/../../x"), b"x", "archive entry 'model/../../x' escapes the archive root"),
    (file_info("..\\..\\evil"), b"x", "archive entry '..\\..\\evil' escapes the archive root"),
    (file_info("/etc/passwd"), b"x", "archive entry '/etc/passwd' is an absolute path"),
    (file_info("C:\\Windows\\x"), b"x", "archive entry 'C:\\Windows\\x' is an absolute path"),
    (
        special_info("model/link", tarfile.SYMTYPE, "/etc/passwd"),
        None,
        "archive entry 'model/link' is a symlink; symlinks are not accepted",
    ),
    (
        special_info("model/hard", tarfile.LNKTYPE, "model/frozen.pb"),
        None,
        "archive entry 'model/hard' is a hard link; hard links are not accepted",
    ),
    (
        special_info("model/tty", tarfile.CHRTYPE),
        None,
        "archive entry 'model/tty' is a character device; only regular files and directories",
    ),
    (
        special_info("model/sda", tarfile.BLKTYPE),
        None,
        "archive entry 'model/sda' is a block device; only regular files and directories",
    ),
    (
        special_info("model/pipe", tarfile.FIFOTYPE),
        None,
        "archive entry 'model/pipe' is a FIFO; only regular files and directories",
    ),
]
TAR_IDS = ["dotdot", "inner-dotdot", "backslash", "absolute", "drive", "symlink", "hardlink"]
TAR_IDS += ["chardev", "blockdev", "fifo"]


@pytest.mark.parametrize(("info", "data", "message"), UNSAFE_TAR, ids=TAR_IDS)
def test_unsafe_tar_entry_is_refused_naming_it(tmp_path, info, data, message):
    path = write_tgz(tmp_path / "evil.tar.gz", [*good_members(), (info, data)])
    with pytest.raises(InvalidArchive) as e:
        detect(path)
    assert str(e.value).startswith(message)
    assert e.value.status == 422


@pytest.mark.parametrize(("info", "data", "message"), UNSAFE_TAR, ids=TAR_IDS)
def test_extract_refuses_unsafe_tar_entry_and_leaves_nothing(tmp_path, info, data, message):
    path = write_tgz(tmp_path / "evil.tar.gz", [*good_members(), (info, data)])
    dest = tmp_path / "out" / "dest"
    with pytest.raises(InvalidArchive, match="^" + re.escape(message)):
        extract_archive(opener(path), "tar.gz", dest, LIMITS)
    assert list(dest.iterdir()) == []  # what was written before the bad entry is gone again
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dest"]
    assert not Path("/etc/passwd").is_symlink()


UNSAFE_ZIP = [
    ("../../etc/passwd", "archive entry '../../etc/passwd' escapes the archive root"),
    ("..\\..\\evil.txt", "archive entry '..\\..\\evil.txt' escapes the archive root"),
    ("/etc/passwd", "archive entry '/etc/passwd' is an absolute path"),
    ("C:\\evil.txt", "archive entry 'C:\\evil.txt' is an absolute path"),
    (zip_info("model/link", stat.S_IFLNK | 0o777), "'model/link' is a symlink; symlinks are not"),
    (zip_info("model/tty", stat.S_IFCHR | 0o644), "'model/tty' is a character device"),
    (zip_info("model/pipe", stat.S_IFIFO | 0o644), "'model/pipe' is a FIFO"),
]
ZIP_IDS = ["dotdot", "backslash", "absolute", "drive", "symlink", "chardev", "fifo"]


@pytest.mark.parametrize(("entry", "message"), UNSAFE_ZIP, ids=ZIP_IDS)
def test_unsafe_zip_entry_is_refused_naming_it(tmp_path, entry, message):
    path = write_zip(tmp_path / "evil.zip", [("model/frozen.pb", GRAPH), (entry, b"/etc/passwd")])
    with pytest.raises(InvalidArchive) as e:
        detect(path)
    assert message in str(e.value)
    dest = tmp_path / "dest"
    with pytest.raises(InvalidArchive, match="archive entry"):
        extract_archive(opener(path), "zip", dest, LIMITS)
    assert list(dest.iterdir()) == []  # a zip is checked completely before writing


def test_zip_name_with_nul_byte_is_refused(tmp_path):
    path = write_zip(tmp_path / "nul.zip", [("model/a.pb", GRAPH)])
    raw = path.read_bytes().replace(b"model/a.pb", b"model\x00a.pb")
    path.write_bytes(raw)
    with pytest.raises(InvalidArchive, match=r"archive entry 'model\\x00a.pb' has a NUL byte"):
        detect(path)


def test_encrypted_zip_entry_is_refused(tmp_path):
    path = write_zip(tmp_path / "enc.zip", [("model/frozen.pb", GRAPH)])
    raw = bytearray(path.read_bytes())
    cd = raw.index(b"PK\x01\x02")
    raw[cd + 8] |= 1  # general purpose flag bit 0: encrypted
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidArchive, match="archive entry 'model/frozen.pb' is encrypted"):
        detect(path)


def test_zip_with_other_compression_is_refused(tmp_path):
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("frozen.pb", GRAPH)
    with pytest.raises(InvalidArchive, match="'frozen.pb' uses compression method 12; only stored"):
        detect(path)


def test_duplicate_zip_entries_are_refused(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write_zip(tmp_path / "dup.zip", [("m/frozen.pb", GRAPH), ("m/frozen.pb", b"other")])
    with pytest.raises(InvalidArchive, match="archive entry 'm/frozen.pb' appears more than once"):
        detect(path)


def test_file_and_directory_with_same_name_are_refused(tmp_path):
    path = write_tgz(tmp_path / "clash.tar.gz", [(file_info("m"), b"x"), (file_info("m/a"), b"y")])
    with pytest.raises(InvalidArchive, match="archive entry 'm' is both a file and a directory"):
        detect(path)


def test_oversized_tar_extended_header_is_refused(tmp_path):
    pax = special_info("././@PaxHeader", tarfile.XHDTYPE)
    pax.size = 2 << 20
    raw = pax.tobuf(format=tarfile.USTAR_FORMAT) + b"9 a=b\n".ljust(2 << 20, b"\n")
    path = tmp_path / "pax.tar.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(InvalidArchive, match="extended header of 2097152 bytes"):
        detect(path)


# --- bomb limits -------------------------------------------------------------------------


def test_too_many_tar_entries_are_refused(tmp_path):
    members = [(file_info(f"m/{i}.txt"), b"x") for i in range(6)]
    path = write_tgz(tmp_path / "many.tar.gz", members)
    limits = ArchiveLimits(max_entries=5, max_unpacked_bytes=1 << 20, max_compression_ratio=200)
    with pytest.raises(ArchiveTooLarge) as e:
        detect(path, limits)
    assert str(e.value) == "archive has more than 5 entries (limit REGISTRY_MAX_ARCHIVE_ENTRIES)"
    assert e.value.status == 413


def test_too_many_zip_entries_are_refused(tmp_path):
    path = write_zip(tmp_path / "many.zip", [(f"m/{i}.txt", b"x") for i in range(6)])
    limits = ArchiveLimits(max_entries=5, max_unpacked_bytes=1 << 20, max_compression_ratio=200)
    with pytest.raises(ArchiveTooLarge, match=r"^archive has more than 5 entries \(limit REGISTRY"):
        detect(path, limits)
    with pytest.raises(ArchiveTooLarge, match="more than 5 entries"):
        extract_archive(opener(path), "zip", tmp_path / "dest", limits)


@pytest.mark.parametrize("packaging", ["tar.gz", "zip"])
def test_unpacked_size_over_limit_is_refused_naming_the_entry(tmp_path, packaging):
    data = os.urandom(600 << 10)
    if packaging == "tar.gz":
        path = write_tgz(
            tmp_path / "big.tar.gz", [(file_info("m/a.bin"), data), (file_info("m/b.bin"), data)]
        )
    else:
        path = write_zip(tmp_path / "big.zip", [("m/a.bin", data), ("m/b.bin", data)])
    limits = ArchiveLimits(max_entries=10, max_unpacked_bytes=1 << 20, max_compression_ratio=200)
    with pytest.raises(ArchiveTooLarge) as e:
        detect(path, limits)
    assert str(e.value) == (
        "archive unpacks to more than 1 MiB (limit REGISTRY_MAX_UNPACKED_BYTES); "
        "the limit is crossed by entry 'm/b.bin'"
    )


def test_declared_gigabytes_are_refused_before_reading_them():
    bombs: list[LazyGzipBomb] = []

    def open_stream():
        bombs.append(LazyGzipBomb(2 << 30, "model/weights.bin"))
        return bombs[-1]

    limits = ArchiveLimits(max_entries=10, max_unpacked_bytes=1 << 30, max_compression_ratio=10**9)
    with pytest.raises(ArchiveTooLarge) as e:
        detect_upload(open_stream, "bomb.tar.gz", "auto", limits)
    assert str(e.value) == (
        "archive unpacks to more than 1 GiB (limit REGISTRY_MAX_UNPACKED_BYTES); "
        "the limit is crossed by entry 'model/weights.bin'"
    )
    assert bombs[-1].compressed_read < 64 << 10


def test_gzip_bomb_is_refused_after_reading_a_bounded_amount(tmp_path):
    # 8 GiB of zeros declared and under the size limit: only the ratio can stop it.
    bombs = []

    def open_stream():
        bombs.append(LazyGzipBomb(8 << 30))
        return bombs[-1]

    limits = ArchiveLimits(max_entries=10, max_unpacked_bytes=1 << 40, max_compression_ratio=200)
    started = time.monotonic()
    with pytest.raises(ArchiveTooLarge) as e:
        detect_upload(open_stream, "bomb.tgz", "auto", limits)
    assert str(e.value) == (
        "archive expands more than 200 times its compressed size (limit "
        "REGISTRY_MAX_COMPRESSION_RATIO), reading entry 'zeros.bin'; "
        "it looks like a compression bomb"
    )
    assert bombs[-1].compressed_read < 256 << 10  # of ~8 MiB: inflated a few MiB at most
    assert time.monotonic() - started < 5
    with pytest.raises(ArchiveTooLarge, match="more than 200 times"):
        extract_archive(open_stream, "tar.gz", tmp_path / "dest", limits)
    assert list((tmp_path / "dest").iterdir()) == []


def test_gzip_bomb_file_is_refused_by_size_and_by_ratio(tmp_path):
    path = tmp_path / "zeros.tar.gz"
    with tarfile.open(path, "w:gz") as tar:  # written streaming: 64 MiB of zeros
        tar.addfile(file_info("zeros.bin", 64 << 20), Zeros(64 << 20))
    assert path.stat().st_size < 1 << 20
    by_size = ArchiveLimits(max_entries=10, max_unpacked_bytes=16 << 20, max_compression_ratio=200)
    with pytest.raises(ArchiveTooLarge, match=r"more than 16 MiB .* crossed by entry 'zeros.bin'"):
        detect(path, by_size)
    with pytest.raises(ArchiveTooLarge, match="more than 200 times its compressed size"):
        detect(path, LIMITS)


def test_zip_bomb_entry_is_refused_without_inflating(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.bin", "w") as f:
        for _ in range(64):
            f.write(bytes(1 << 20))
    with pytest.raises(ArchiveTooLarge) as e:
        detect(path)
    message = str(e.value)
    assert message.startswith("archive entry 'zeros.bin' expands ")
    assert (
        "more than 200 (limit REGISTRY_MAX_COMPRESSION_RATIO); it looks like a zip bomb" in message
    )
    with pytest.raises(ArchiveTooLarge, match="'zeros.bin' expands"):
        extract_archive(opener(path), "zip", tmp_path / "dest", LIMITS)
    assert list((tmp_path / "dest").iterdir()) == []


def test_zip_bomb_of_many_small_entries_is_refused_overall(tmp_path):
    members = [(f"z/{i}.bin", bytes(1 << 20)) for i in range(40)]  # each at the ratio floor
    path = write_zip(tmp_path / "bomb.zip", members)
    with pytest.raises(ArchiveTooLarge, match=r"^archive expands more than 200 times its size"):
        detect(path)


def test_small_compressible_files_are_not_bombs(tmp_path):
    members = [("m/saved_model.pb", b"\x08\x01"), ("m/assets/vocab.txt", bytes(1 << 20))]
    assert detect(write_zip(tmp_path / "ok.zip", members)).kind == "savedmodel"
    tgz = write_tgz(tmp_path / "ok.tar.gz", [(file_info(n), d) for n, d in members])
    assert detect(tgz).kind == "savedmodel"


# --- corrupt archives --------------------------------------------------------------------


def test_truncated_tar_gz_is_refused_as_corrupt(tmp_path):
    src = model_tree(tmp_path / "sm")
    (src / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(200 << 10))
    whole = tmp_path / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        tar.add(src, "sm")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InvalidArchive, match=r"^the tar.gz archive is corrupt or truncated"):
        detect(cut)
    with pytest.raises(InvalidArchive, match="corrupt or truncated"):
        extract_archive(opener(cut), "tar.gz", tmp_path / "dest", LIMITS)
    assert list((tmp_path / "dest").iterdir()) == []


def test_tar_gz_with_bad_crc_trailer_is_refused(tmp_path):
    raw = bytearray(write_tgz(tmp_path / "ok.tar.gz", good_members()).read_bytes())
    raw[-8] ^= 0xFF  # the CRC32 of the gzip trailer
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(InvalidArchive, match="the tar.gz archive is corrupt or truncated"):
        detect(bad)


def test_damaged_tar_header_is_refused_not_taken_as_the_end(tmp_path):
    members = [(file_info("m/a.txt"), b"a" * 10), (file_info("m/b.txt"), b"b" * 10)]
    raw = bytearray(gzip.decompress(write_tgz(tmp_path / "ok.tar.gz", members).read_bytes()))
    second = raw.index(b"m/b.txt")
    raw[second + 148 : second + 156] = b"0000000\x00"  # a wrong header checksum
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(InvalidArchive, match=r"corrupt or truncated \(bad checksum\)"):
        detect(bad)


def test_gzip_that_is_not_a_tar_is_refused(tmp_path):
    path = tmp_path / "model.pb.gz"
    path.write_bytes(gzip.compress(GRAPH * 200))
    with pytest.raises(InvalidArchive, match="the tar.gz archive is corrupt or truncated"):
        detect(path)


def test_truncated_zip_is_refused_as_corrupt(tmp_path):
    whole = write_zip(tmp_path / "whole.zip", [("m/a.bin", os.urandom(4096))])
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[:3000])
    with pytest.raises(InvalidArchive, match=r"^the zip archive is corrupt or truncated"):
        detect(cut)


def test_zip_member_with_bad_crc_fails_extraction(tmp_path):
    path = write_zip(tmp_path / "crc.zip", [("m/a.bin", b"hello world" * 100)], compression=0)
    raw = path.read_bytes().replace(b"hello world", b"hellO world", 1)
    path.write_bytes(raw)
    with pytest.raises(InvalidArchive, match="the zip archive is corrupt or truncated .*CRC"):
        extract_archive(opener(path), "zip", tmp_path / "dest", LIMITS)
    assert list((tmp_path / "dest").iterdir()) == []


# --- extract_archive ---------------------------------------------------------------------


@pytest.mark.parametrize("packaging", ["tar.gz", "zip"])
def test_extract_archive_writes_files_and_dirs(tmp_path, packaging):
    src = model_tree(tmp_path / "sm")
    (src / "variables" / "variables.index").chmod(0o755)
    path = tmp_path / f"sm.{packaging}"
    if packaging == "tar.gz":
        with tarfile.open(path, "w:gz") as tar:
            tar.add(src, "export")
    else:
        with zipfile.ZipFile(path, "w") as zf:
            for f in sorted(src.rglob("*")):
                zf.write(f, "export/" + f.relative_to(src).as_posix())
    dest = tmp_path / "dest"
    extract_archive(opener(path), packaging, dest, LIMITS)
    got = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    assert got == sorted(
        ["export", *("export/" + p.relative_to(src).as_posix() for p in src.rglob("*"))]
    )
    for f in src.rglob("*"):
        out = dest / "export" / f.relative_to(src)
        if f.is_file():
            assert out.read_bytes() == f.read_bytes()
            assert stat.S_IMODE(out.stat().st_mode) & 0o111 == 0  # never executable
        else:
            assert out.is_dir() and not out.is_symlink()


def test_extract_does_not_overwrite_existing_files(tmp_path):
    path = write_tgz(tmp_path / "a.tar.gz", good_members())
    dest = tmp_path / "dest"
    (dest / "model").mkdir(parents=True)
    (dest / "model" / "frozen.pb").write_bytes(b"mine")
    with pytest.raises(InvalidArchive, match="'model/frozen.pb' would overwrite an existing file"):
        extract_archive(opener(path), "tar.gz", dest, LIMITS)
    assert (dest / "model" / "frozen.pb").read_bytes() == b"mine"


def test_extract_does_not_follow_a_symlink_already_in_dest(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "model").symlink_to(outside)
    path = write_tgz(tmp_path / "a.tar.gz", good_members())
    with pytest.raises(InvalidArchive, match="needs 'model' to be a directory"):
        extract_archive(opener(path), "tar.gz", dest, LIMITS)
    assert list(outside.iterdir()) == []


def test_extract_refuses_plain_files(tmp_path):
    with pytest.raises(ValueError, match="not an archive packaging: 'file'"):
        extract_archive(opener(tmp_path), "file", tmp_path / "dest", LIMITS)


# --- pack_directory ----------------------------------------------------------------------


class WriteOnly:
    """A sink that can only be written to, like a socket or an upload stream."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def value(self) -> bytes:
        return b"".join(self.chunks)


def packed(src: Path) -> bytes:
    out = WriteOnly()
    pack_directory(src, out)
    return out.value()


def test_pack_directory_is_deterministic(tmp_path):
    src = model_tree(tmp_path / "sm")
    first, second = packed(src), packed(src)
    assert first == second
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    for i, p in enumerate(sorted(copy.rglob("*"))):
        os.utime(p, (1_000_000 + i, 2_000_000 + i))
    (copy / "saved_model.pb").chmod(0o600)
    assert packed(copy) == first


def test_pack_directory_headers_are_normalised(tmp_path):
    src = model_tree(tmp_path / "sm")
    (src / "variables" / ("long-" + "x" * 120)).write_bytes(b"long name")
    data = packed(src)
    assert data[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no flags (no file name)
    assert data[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        "assets",
        "saved_model.pb",
        "variables",
        "variables/long-" + "x" * 120,
        "variables/variables.data-00000-of-00001",
        "variables/variables.index",
    ]
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() else 0o644)
        assert m.isdir() or m.isfile()


def test_pack_then_extract_round_trips(tmp_path):
    src = model_tree(tmp_path / "sm")
    archive = tmp_path / "sm.tar.gz"
    with archive.open("wb") as out:
        pack_directory(src, out)
    dest = tmp_path / "dest"
    extract_archive(opener(archive), "tar.gz", dest, LIMITS)
    for f in src.rglob("*"):
        assert (dest / f.relative_to(src)).is_dir() == f.is_dir()
        if f.is_file():
            assert (dest / f.relative_to(src)).read_bytes() == f.read_bytes()
    assert detect(archive).kind == "savedmodel"


def test_pack_directory_stores_noise_and_deflates_what_shrinks(tmp_path):
    # Several segments of each kind in one stream: random bytes between text and zeros.
    src = model_tree(tmp_path / "sm")
    noise = os.urandom(2_500_000)
    text = b"".join(b"node %d: Conv2D relu\n" % i for i in range(150_000))
    (src / "variables" / "variables.data-00000-of-00001").write_bytes(noise)
    (src / "saved_model.pb").write_bytes(text)
    (src / "variables" / "variables.index").write_bytes(bytes(1_500_000))
    data = packed(src)
    assert data == packed(src)
    # The noise costs its own size (stored), the text and the zeros almost nothing.
    assert len(noise) < len(data) < len(noise) + len(text) // 3
    assert len(gzip.decompress(data)) > len(noise) + len(text)
    dest = tmp_path / "dest"
    archive = tmp_path / "sm.tar.gz"
    archive.write_bytes(data)
    extract_archive(opener(archive), "tar.gz", dest, LIMITS)
    for f in src.rglob("*"):
        if f.is_file():
            assert (dest / f.relative_to(src)).read_bytes() == f.read_bytes()


def test_pack_directory_refuses_symlinks(tmp_path):
    src = model_tree(tmp_path / "sm")
    (src / "link").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="only files and directories are packed"):
        pack_directory(src, WriteOnly())


def test_pack_directory_streams_in_bounded_pieces(tmp_path):
    src = tmp_path / "big"
    src.mkdir()
    with open(src / "weights.bin", "wb") as f:
        for _ in range(16):
            f.write(os.urandom(1 << 20))
    out = WriteOnly()
    pack_directory(src, out)
    assert sum(map(len, out.chunks)) > 16 << 20  # random data does not compress
    assert max(map(len, out.chunks)) <= 2 << 20
