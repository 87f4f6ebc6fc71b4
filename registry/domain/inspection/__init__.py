"""Upload inspection: which kind of model an uploaded file or archive is, checked without a
database and without TensorFlow.

`detect_upload` (in `detection`) reads as little as it can of the stored bytes and answers a
`DetectedUpload` (kind, packaging, root, checkpoint prefix) or raises an `UploadRejected`
naming the entry or limit at fault; `checkpoints` knows TF1 checkpoint bundles.
"""

from registry.domain.inspection.detection import DetectedUpload, detect_upload

__all__ = ["DetectedUpload", "detect_upload"]
