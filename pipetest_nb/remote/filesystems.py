"""The fsspec filesystem for a URL, with the standard credential chain and ``AWS_ENDPOINT_URL``.

Credentials are never taken from the URL (``spec.urls`` refuses those) nor passed around by pipetest:
s3fs and botocore read the environment, the profile and the instance role themselves.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from pipetest_nb.remote.errors import RemoteDataError, missing_extra
from pipetest_nb.spec.urls import url_problem

_FILESYSTEMS: dict[tuple, Any] = {}
_LOCK = threading.Lock()
_S3_LIBRARIES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
                 "http": "aiohttp", "https": "aiohttp"}


def protocol(url: str) -> str:
    return url.split("://", 1)[0].lower()


def _options(proto: str) -> dict[str, Any]:
    """s3fs options from the environment: the endpoint (older botocore ignores AWS_ENDPOINT_URL) and
    fresh listings (a changed object must be seen)."""
    if proto not in ("s3", "s3a"):
        return {}
    options: dict[str, Any] = {"use_listings_cache": False,
                               "config_kwargs": {"connect_timeout": 5, "read_timeout": 60,
                                                 "retries": {"max_attempts": 2, "mode": "standard"}}}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


def filesystem(url: str) -> tuple[Any, str]:
    """``(fs, path)`` for ``url``: one filesystem per protocol and endpoint per process."""
    why = url_problem(url)
    if why:
        raise RemoteDataError(url, why)
    proto = protocol(url)
    try:
        import fsspec
    except ImportError:
        raise missing_extra(url, "fsspec") from None
    options = _options(proto)
    key = (proto, repr(sorted(options.items())), os.getpid())
    with _LOCK:
        fs = _FILESYSTEMS.get(key)
        if fs is None:
            try:
                fs = fsspec.filesystem(proto, skip_instance_cache=True, **options)
            except ImportError:
                raise missing_extra(url, _S3_LIBRARIES.get(proto, f"the fsspec backend for {proto}://")) from None
            except ValueError as exc:
                raise RemoteDataError(url, f"unknown kind of URL ({exc})", "use s3://, gs://, https:// or file://"
                                      ) from None
            if hasattr(fs, "retries"):
                fs.retries = 2  # s3fs's own retries of throttling; pipetest retries each object too (fetch.TRIES)
            _FILESYSTEMS[key] = fs
    return fs, fs._strip_protocol(url)
