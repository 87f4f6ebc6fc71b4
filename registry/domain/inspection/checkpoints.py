"""TF1 checkpoints in an archive: choosing the prefix and checking it is complete, no TF.

A TF1 (name-based) checkpoint is `PREFIX.meta` (the graph), `PREFIX.index` and the data
shards `PREFIX.data-XXXXX-of-NNNNN`; a `checkpoint` state file names the latest prefix. A TF2
object-based checkpoint has no .meta and its .index holds the key
`_CHECKPOINTABLE_OBJECT_GRAPH` literally; it cannot be converted without the model's code.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from registry.archives.entries import ArchiveScan
from registry.archives.reading import show
from registry.errors import IncompleteCheckpoint, ObjectCheckpointRejected

OBJECT_GRAPH_KEY = b"_CHECKPOINTABLE_OBJECT_GRAPH"
_SHARD = re.compile(r"^(?P<prefix>.+)\.data-(?P<index>\d{5,})-of-(?P<count>\d{5,})$")


@dataclass
class _Prefix:
    index: bool = False
    meta: bool = False
    shards: set[tuple[int, int]] = field(default_factory=set)


def _checkpoint_prefixes(files: list[str]) -> dict[str, _Prefix]:
    prefixes: dict[str, _Prefix] = {}
    for f in files:
        base = posixpath.basename(f)
        if base.endswith(".index") and len(base) > len(".index"):
            prefixes.setdefault(f[: -len(".index")], _Prefix()).index = True
        elif base.endswith(".meta") and len(base) > len(".meta"):
            prefixes.setdefault(f[: -len(".meta")], _Prefix()).meta = True
        elif m := _SHARD.match(base):
            prefix = posixpath.join(posixpath.dirname(f), m["prefix"])
            prefixes.setdefault(prefix, _Prefix()).shards.add((int(m["index"]), int(m["count"])))
    return prefixes


def _is_object_checkpoint(scan: ArchiveScan, prefix: str, info: _Prefix) -> bool:
    return info.index and scan.probe(prefix + ".index").contains_needle


def _object_checkpoint(prefix: str) -> ObjectCheckpointRejected:
    return ObjectCheckpointRejected(
        f"'{show(prefix)}' is a TF2 object-based checkpoint (tf.train.Checkpoint or "
        "save_weights): it holds variable values but no graph, so it cannot be converted "
        "without the model's code. Upload the model as a .keras or .h5 file or as a "
        "SavedModel instead."
    )


def _choose_prefix(scan: ArchiveScan, files: list[str], found: dict[str, _Prefix]) -> str:
    # Stray data shards of a checkpoint that has neither .index nor .meta don't compete.
    prefixes = {p: info for p, info in found.items() if info.index or info.meta} or found
    if len(prefixes) == 1:
        return next(iter(prefixes))
    named: list[str] = []
    for state in (f for f in files if posixpath.basename(f) == "checkpoint"):
        path = parse_checkpoint_state(scan.probe(state).head)
        if path is not None:
            named.append(_resolve_state_path(posixpath.dirname(state), path))
    chosen = sorted({p for p in named if p in prefixes})
    if len(chosen) == 1:
        return chosen[0]
    if not any(p.meta for p in prefixes.values()):
        tf2 = [p for p, info in sorted(prefixes.items()) if _is_object_checkpoint(scan, p, info)]
        if tf2:
            raise _object_checkpoint(tf2[0])
    listed = ", ".join(show(p) for p in sorted(prefixes))
    if named and not chosen:
        raise IncompleteCheckpoint(
            f"the checkpoint state file names {', '.join(show(p) for p in sorted(set(named)))}, "
            f"which is not in the archive; the archive holds the checkpoints {listed}"
        )
    raise IncompleteCheckpoint(
        f"the archive holds several checkpoints ({listed}) and no 'checkpoint' state file "
        "naming one of them; upload a single checkpoint or include its state file"
    )


def _resolve_state_path(state_dir: str, path: str) -> str:
    """State files often hold absolute paths from the machine that wrote them: an absolute
    path is taken as a file next to the state file, a relative one relative to it."""
    path = path.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return posixpath.join(state_dir, posixpath.basename(path))
    return posixpath.normpath(posixpath.join(state_dir, path))


def detect_checkpoint(scan: ArchiveScan, files: list[str]) -> tuple[str, str] | None:
    """(root, prefix base name) of the one complete checkpoint in `files`, None if none;
    IncompleteCheckpoint or ObjectCheckpointRejected if the checkpoint is not usable."""
    prefixes = _checkpoint_prefixes(files)
    if not prefixes:
        return None
    prefix = _choose_prefix(scan, files, prefixes)
    info, shown = prefixes[prefix], show(prefix)
    if not info.index:
        raise IncompleteCheckpoint(f"checkpoint {shown} is missing {shown}.index")
    probe = scan.probe(prefix + ".index")
    if not info.meta:
        if probe.contains_needle:
            raise _object_checkpoint(prefix)
        raise IncompleteCheckpoint(
            f"checkpoint {shown} is missing {shown}.meta (the graph); a TF1 checkpoint "
            "needs .meta, .index and its .data-* shards"
        )
    num_shards = parse_bundle_num_shards(probe.head)
    source = "the index names"
    if num_shards is None:  # header not where expected: trust the shard names present
        num_shards, source = max((n for _, n in info.shards), default=0), "the shard names say"
        if num_shards == 0:
            raise IncompleteCheckpoint(
                f"checkpoint {shown} is missing its data ({shown}.data-00000-of-00001)"
            )
    present = {i for i, n in info.shards if n == num_shards and i < num_shards}
    if len(present) < num_shards:
        # num_shards comes from the upload: name the first few gaps without walking them all.
        gaps = (i for i in range(num_shards) if i not in present)
        first = [f"{shown}.data-{i:05d}-of-{num_shards:05d}" for i in itertools.islice(gaps, 3)]
        left = num_shards - len(present) - len(first)
        more = f" and {left} more" if left > 0 else ""
        raise IncompleteCheckpoint(
            f"checkpoint {shown} is missing {', '.join(first)}{more} "
            f"({source} {num_shards} shard{'s' if num_shards != 1 else ''})"
        )
    return posixpath.dirname(prefix), posixpath.basename(prefix)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A protobuf/LevelDB base-128 varint at pos: (value, next pos); ValueError if cut."""
    value = shift = 0
    while shift < 70:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint too long")


def _proto_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a serialized protobuf message, shallowly."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = data[pos : pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data) or number == 0:
            raise ValueError("truncated field")
        yield number, wire, value


def parse_bundle_num_shards(index_head: bytes) -> int | None:
    """The `num_shards` of a TF checkpoint `.index`, from its first bytes; None if unsure.

    The .index is a LevelDB-format table written without compression. Its first data block
    starts at offset 0, and the block's first entry (varint shared key length = 0, varint
    unshared key length = 0, varint value length, then the value) is the empty key "" with a
    BundleHeaderProto: field 1 num_shards (int32), 2 endianness, 3 version. If the bytes are
    not laid out like that, None: the caller falls back to the `-of-NNNNN` in the shard names.
    """
    try:
        shared, pos = _varint(index_head, 0)
        unshared, pos = _varint(index_head, pos)
        size, pos = _varint(index_head, pos)
        if shared or unshared or pos + size > len(index_head):
            return None
        num_shards = None
        for number, wire, value in _proto_fields(index_head[pos : pos + size]):
            if number == 1 and wire == 0:
                num_shards = value
    except ValueError:
        return None
    return num_shards if num_shards is not None and 1 <= num_shards < 1 << 31 else None


_STATE_PATH = re.compile(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"', re.MULTILINE)


def parse_checkpoint_state(text: bytes) -> str | None:
    """The `model_checkpoint_path` of a `checkpoint` state file (text proto), if any."""
    m = _STATE_PATH.search(text.decode("utf-8", "replace"))
    if m is None:
        return None
    return re.sub(r"\\(.)", r"\1", m.group(1)) or None
