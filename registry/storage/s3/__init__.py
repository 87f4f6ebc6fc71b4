"""Artifact storage in an S3 bucket (AWS S3, SeaweedFS, MinIO) through boto3.

- `store`: S3Storage, the Storage protocol over `s3://bucket/prefix`
- `client`: make_client and CallPolicy, the one bound on every S3 call's waits and retries
- `blob_writer`: S3BlobWriter, streaming uploads with bounded memory
- `multipart_upload`: MultipartUpload, completed or aborted, never left behind
- `range_copy`: server-side copy of large objects in parallel ranges
- `ranged_reader`: S3RawReader, a seekable file over ranged GETs
- `errors`: botocore failures as StorageError / BlobNotFound
"""

from .blob_writer import S3BlobWriter
from .client import CallPolicy, make_client, parse_s3_url
from .ranged_reader import S3RawReader
from .store import S3Storage

__all__ = [
    "CallPolicy",
    "S3BlobWriter",
    "S3RawReader",
    "S3Storage",
    "make_client",
    "parse_s3_url",
]
