"""The one place that judges URLs from untrusted input: spec fields, registry answers, lock files.

`url_problem` answers why a URL may not be used (None when it may): a scheme
outside the allow-list, credentials in the userinfo, control characters,
whitespace or characters RFC 3986 does not allow (such as `{`, which a Go
template would read as an action). `model_source_problem` adds what a model
server's storage URI must be: a concrete bucket and key prefix, no wildcard,
optionally inside an allow-list of buckets, so the IAM grant made from it is
exactly that prefix. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional
from urllib.parse import urlsplit

WEB_SCHEMES = ("https", "http")
# What a KServe storage initializer downloads from and Stackyard can grant access to.
MODEL_SOURCE_SCHEMES = ("s3", "gs", "https")

# RFC 3986 unreserved, reserved and percent: anything else (space, quotes, <>, {}, |, \, ^, `) is refused.
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*\Z")
_CONTROL = re.compile("[\x00-\x20\x7f-\x9f]")
# S3 bucket naming rules (also the stricter subset of GCS): 3-63 lowercase letters, digits, dots, hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9!\-_.'()+=@,:~]+\Z")  # no wildcards (* ?), no brackets


def url_problem(url: object, schemes: Iterable[str] = WEB_SCHEMES) -> Optional[str]:
    """Why `url` is not an acceptable URL with one of `schemes`; None when it is."""
    schemes = tuple(schemes)
    if not isinstance(url, str):
        return f"expected a URL, found {type(url).__name__}"
    if _CONTROL.search(url):
        return "a URL may not contain control characters or whitespace"
    if not _URL_CHARACTERS.match(url):
        bad = sorted({c for c in url if not _URL_CHARACTERS.match(c)})
        return f"a URL may not contain {''.join(bad)!r} (percent-encode it)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as error:
        return f"not a valid URL ({error})"
    scheme = url.split(":", 1)[0] if ":" in url else ""  # as written: urlsplit lowercases it
    if scheme not in schemes or not url.startswith(f"{scheme}://"):
        allowed = ", ".join(f"{s}://" for s in schemes)
        return f"expected a URL starting with {allowed}, found {(scheme or '(no scheme)')!r}"
    if "@" in parts.netloc:
        return "credentials in a URL are not allowed (the userinfo before '@'); use a secret reference"
    if not parts.hostname:
        return "a URL needs a host"
    return None


@dataclass(frozen=True)
class StorageLocation:
    scheme: str
    bucket: str
    prefix: str  # no leading or trailing slash, never empty


def storage_location(source: str) -> StorageLocation:
    """Bucket and prefix of a source `model_source_problem` accepted."""
    parts = urlsplit(source)
    return StorageLocation(parts.scheme, parts.netloc, parts.path.strip("/"))


def model_source_problem(source: object, allowed_buckets: Iterable[str] = ()) -> Optional[str]:
    """Why `source` may not be a model's storage URI; None when it may."""
    problem = url_problem(source, MODEL_SOURCE_SCHEMES)
    if problem:
        return problem
    parts = urlsplit(source)
    if parts.query or parts.fragment:
        return "a model source has no query or fragment"
    if parts.scheme in ("s3", "gs"):
        if not _BUCKET.match(parts.netloc) or ".." in parts.netloc:
            return (f"expected a concrete bucket name (3-63 lowercase letters, digits, '.', '-'), "
                    f"found {parts.netloc!r}")
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments:
        return "expected a key prefix under the bucket (a whole bucket is never granted)"
    for segment in segments:
        if segment in (".", "..") or not _KEY_SEGMENT.match(segment):
            return f"expected a concrete key prefix (no wildcards, no '..'), found segment {segment!r}"
    allowed = tuple(allowed_buckets)
    if allowed and parts.netloc not in allowed:
        return f"bucket {parts.netloc!r} is not in serving.registry.allowedBuckets {list(allowed)}"
    return None
