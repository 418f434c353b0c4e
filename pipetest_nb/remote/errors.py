"""What went wrong with remote data, said once: the URL and the cause (no such bucket or key, access denied,
network, throttling), and what to do. Filesystems raise their own exceptions; ``explain`` maps them."""

from __future__ import annotations

from pipetest_nb.exceptions import PipetestError
from pipetest_nb.spec.urls import redacted

INSTALL_HINT = "pip install 'pipetest_nb[s3]'"

_THROTTLED = ("slowdown", "slow down", "throttl", "toomanyrequests", "too many requests", "requestlimitexceeded",
              "503")
_NETWORK = ("could not connect", "connect timeout", "read timeout", "connection refused", "connection reset",
            "endpoint url", "cannot connect", "name or service not known", "timed out", "server disconnected",
            "connectionerror", "payload is not completed", "response payload")


class RemoteDataError(PipetestError):
    """Remote data could not be listed, fetched or written: ``url`` (without credentials) and ``cause``."""

    def __init__(self, url: str, cause: str, hint: str = ""):
        self.url, self.cause, self.hint = redacted(url), cause, hint
        super().__init__(f"{self.url}: {cause}" + (f"; {hint}" if hint else ""))


def missing_extra(url: str, module: str) -> RemoteDataError:
    """The error for a URL whose filesystem library is not installed."""
    return RemoteDataError(url, f"reading it needs {module}, which is not installed",
                           f"install the s3 extra: {INSTALL_HINT}")


def _text(exc: BaseException) -> str:
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " | ".join(parts)


def transient(exc: BaseException) -> bool:
    """Whether trying again may help (throttling, a dropped connection, a timeout)."""
    if isinstance(exc, (FileNotFoundError, PermissionError, RemoteDataError)):
        return False
    text = _text(exc).lower()
    return any(word in text for word in _THROTTLED + _NETWORK) or isinstance(exc, (ConnectionError, TimeoutError))


def explain(url: str, exc: BaseException, tries: int = 1) -> RemoteDataError:
    """A ``RemoteDataError`` naming ``url`` and the cause of ``exc``."""
    if isinstance(exc, RemoteDataError):
        return exc
    text = _text(exc)
    low = text.lower()
    bucket = url.split("://", 1)[-1].split("/", 1)[0]
    after = f" (after {tries} tries)" if tries > 1 else ""
    if "nosuchbucket" in low or "bucket does not exist" in low or "specified bucket does not" in low:
        return RemoteDataError(url, f"no such bucket '{bucket}'", "check the bucket name and the region")
    if isinstance(exc, FileNotFoundError) or "nosuchkey" in low or "not found" in low or "404" in low:
        return RemoteDataError(url, "no such key (nothing at this URL)",
                               "check the path; a folder of objects ends with '/'")
    if isinstance(exc, PermissionError) or "accessdenied" in low or "access denied" in low or "forbidden" in low \
            or "403" in low or "invalidaccesskeyid" in low or "signaturedoesnotmatch" in low:
        return RemoteDataError(url, "access denied", "check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, the "
                               "instance role) and the bucket's policy")
    if any(word in low for word in _THROTTLED):
        return RemoteDataError(url, f"throttled by the server{after}", "try again later or with fewer parallel "
                               "downloads")
    if any(word in low for word in _NETWORK) or isinstance(exc, (ConnectionError, TimeoutError)):
        return RemoteDataError(url, f"network error{after}: {str(exc)[:200]}",
                               "check the connection and AWS_ENDPOINT_URL")
    return RemoteDataError(url, f"{type(exc).__name__}: {str(exc)[:300]}")
