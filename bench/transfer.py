"""Upload and download throughput through the API, presigned, and direct boto3, in one run.

    .venv/bin/python -m bench.transfer [--mib 1024]

Starts SeaweedFS on loopback (or uses REGISTRY_S3_ENDPOINT_URL), a PostgreSQL schema in the
local `test` database, and the API under gunicorn. The registry rows use its own client: it
hashes the file, then either streams it through the API with its sha256 declared, or sends
it straight to S3 in presigned parts and has the registry join and check them; downloads are
streamed by the API or fetched from a presigned URL, the sha256 checked by the client either
way. Prints MiB/s per round and the medians, the ratios to boto3, and the API processes' peak
RSS during each kind of upload.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import boto3

from bench.processes import RssSampler
from bench.stack import production_stack
from registry.client import RegistryClient


def make_payload(path: Path, mib: int) -> str:
    """A file of fresh random bytes that passes as a .tflite; returns its sha256.

    Fresh per round: the registry would not send bytes it already stores.
    """
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(mib):
            block = os.urandom(1024**2)
            chunk = b"\x1c\x00\x00\x00TFL3" + block[8:] if i == 0 else block
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def timed(label: str, mib: int, action, *args, **kwargs) -> float:
    start = time.perf_counter()
    action(*args, **kwargs)
    rate = mib / (time.perf_counter() - start)
    print(f"{label:<28} {rate:8.1f} MiB/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="transfer size in MiB")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="bench-transfer-") as scratch_name,
        production_stack(Path(scratch_name), max_upload_bytes=(args.mib + 64) * 1024**2) as stack,
    ):
        scratch = Path(scratch_name)
        s3 = stack.s3
        boto = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
            region_name="us-east-1",
        )
        url = f"http://127.0.0.1:{stack.api_port}"
        proxied = RegistryClient(url, stack.token, timeout=600, direct_upload_threshold=None)
        presigned = RegistryClient(url, stack.token, timeout=600, direct_upload_threshold=1)
        rates: dict[str, list[float]] = {key: [] for key in RATE_LABELS}
        peak_kib = {"api": 0, "presigned": 0}
        idle_kib = 0
        payload = scratch / "payload.tflite"
        for round_number in range(1, args.rounds + 1):
            make_payload(payload, args.mib)
            model = f"bench{round_number}"
            print(f"round {round_number}: {args.mib} MiB of fresh bytes")
            rates["up_boto3"].append(
                timed(
                    "upload   direct boto3",
                    args.mib,
                    boto.upload_file,
                    str(payload),
                    stack.bucket,
                    "direct/payload",
                )
            )
            # The registry's own client hashes the file, then streams it through the API with
            # its sha256, or PUTs its parts to S3 and has the registry join and check them.
            for way, client in (("api", proxied), ("presigned", presigned)):
                make_payload(payload, args.mib)  # bytes the store does not hold yet
                with RssSampler(stack.api.pid) as rss:
                    idle_kib = idle_kib or rss.peak_kib
                    rates[f"up_{way}"].append(
                        timed(
                            RATE_LABELS[f"up_{way}"],
                            args.mib,
                            client.upload,
                            model,
                            payload,
                            format="tflite",
                        )
                    )
                peak_kib[way] = max(peak_kib[way], rss.peak_kib)
            rates["down_boto3"].append(
                timed(
                    "download direct boto3",
                    args.mib,
                    boto.download_file,
                    stack.bucket,
                    "direct/payload",
                    str(scratch / "d"),
                )
            )
            (scratch / "d").unlink()
            # The client checks the sha256 of what it receives before keeping the file.
            for key, label, redirect in (
                ("down_api", "download through API", False),
                ("down_presigned", "download presigned", True),
            ):
                rates[key].append(
                    timed(
                        label,
                        args.mib,
                        proxied.download,
                        model,
                        1,
                        "tflite",
                        scratch / "d",
                        redirect=redirect,
                    )
                )
                (scratch / "d").unlink()
        median = {key: statistics.median(values) for key, values in rates.items()}
        print(f"median of {args.rounds} rounds, MiB/s:")
        for key, label in RATE_LABELS.items():
            print(f"  {label:<26} {median[key]:8.1f}")
        for way in ("api", "presigned"):
            for direction in ("up", "down"):
                ratio = median[f"{direction}_{way}"] / median[f"{direction}_boto3"]
                print(f"ratio {direction + 'load':<8} {way}/boto3: {ratio:.2f}")
        print(
            f"API RSS: {idle_kib / 1024:.0f} MiB before the first upload, peak "
            f"{peak_kib['api'] / 1024:.0f} MiB during uploads through it, "
            f"{peak_kib['presigned'] / 1024:.0f} MiB during presigned ones"
        )


RATE_LABELS = {
    "up_boto3": "upload   direct boto3",
    "up_api": "upload   through API",
    "up_presigned": "upload   presigned",
    "down_boto3": "download direct boto3",
    "down_api": "download through API",
    "down_presigned": "download presigned",
}


if __name__ == "__main__":
    main()
