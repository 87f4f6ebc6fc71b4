"""Untrusted archives, read and written safely in bounded memory; no database, no server.

Shared by the server (upload inspection, conversion sources and variants) and the client
(directories packed on the fly, downloads unpacked):

- `reading`: member-name checks, bomb guards and chunked readers;
- `entries`: a tar or zip archive's entries, each checked (`archive_entries`, `scan_archive`);
- `directories`: `extract_archive` into a directory, `pack_directory` into a deterministic
  `.tar.gz`;
- `gzip_writer`: the gzip stream packing writes, compressing each part as far as it pays;
- `streams`: writer-to-iterator and iterator-to-reader pipes (`written_chunks`, `ChunkReader`);
- `limits`: `ArchiveLimits` and `human_bytes`.
"""
