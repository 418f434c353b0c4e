"""Telling a URL (``s3://bucket/key``, ``https://...``) from a path, and refusing one that carries credentials.

A pipeline file, ``--input`` and Cursus overrides may name remote data; credentials come from the AWS
chain (or the filesystem's own), never from the URL, so that none is ever written into a record.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")  # two letters at least: C:\\ stays a path
_SIGNED_QUERY = re.compile(r"(?i)(?:^|&)(x-amz-signature|x-amz-credential|signature|sig|token|access_token)=")


def is_url(text: object) -> bool:
    """Whether ``text`` is a URL with a scheme (``s3://``, ``gs://``, ``https://``, ``file://``)."""
    return isinstance(text, str) and bool(_SCHEME.match(text))


def url_problem(url: str) -> str | None:
    """Why ``url`` is refused (credentials in it), or None."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return (f"the URL {redacted(url)} carries credentials; remove them from the URL and use the standard "
                "credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an instance role)")
    if _SIGNED_QUERY.search(parts.query):
        return (f"the URL {redacted(url)} carries a signature or token in its query; give the plain URL and "
                "let the credential chain sign requests")
    return None


def redacted(url: str) -> str:
    """``url`` without any user, password or query, safe to show and record (a name that is no URL, such
    as an ARN, as it is)."""
    if not is_url(url):
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"
