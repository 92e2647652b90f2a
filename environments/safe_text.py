"""Text that reaches people: credentials redacted, control characters made visible.

Specs, lock files, registry answers and anything from a pull request are
untrusted, and their strings end up in terminal messages, CI logs, pull-request
comments and reports. Two things must never pass through:

- control characters: an ANSI escape rewrites a terminal, a newline starts a
  forged `::error::` line in a GitHub Actions log, a NUL makes XML malformed,
  a bidirectional override hides what a line says;
- credentials: the userinfo of a URL, an `Authorization` header or bearer
  token a server echoes back.

Every output format (the CLI's messages, the audit table, JSON, SARIF, JUnit,
HTML, the Markdown reports) passes its values through this one module.
Standard library only: `stackyard validate` and the policy pack import it.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode bidirectional controls (Trojan Source).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# scheme://user:password@host -> scheme://***@host ; the userinfo ends at the last '@' before the path.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]*@")
# Authorization: Bearer x / Basic x / token x, and bare "Bearer <token>" anywhere in a message.
_AUTH_HEADER = re.compile(r"(?i)\b(authorization|proxy-authorization|x-api-key|x-auth-token|cookie)"
                          r"(['\"]?\s*[:=]\s*['\"]?)(?:(bearer|basic|token|digest)\s+)?[^\s'\",;}]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}")
# Credentials in a URL's query: ?token=..., &X-Amz-Signature=...
_QUERY_SECRET = re.compile(r"(?i)([?&](?:access_token|token|password|secret|api_?key|sig|signature|"
                           r"x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#\s'\"]+")

REDACTED = "***"


def visible(character: str) -> str:
    """How a control character is shown: its escape (`\\x1b`, `\\n`, `\\u202e`)."""
    code = ord(character)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if character in named:
        return named[character]
    # C0 as \x..; DEL, C1 and the rest as \u.... (still valid inside a JSON string).
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """One line of text safe for any terminal, log or report cell: every control character escaped."""
    return _CONTROL.sub(lambda match: visible(match.group()), str(text))


def scrub(document: str) -> str:
    """A whole rendered output (several lines): control characters escaped, newlines and tabs kept.

    Values that must stay on one line (a table cell, a message) go through `printable` first;
    this is the last line of defence over a format's finished text."""
    return _CONTROL_BUT_LAYOUT.sub(lambda match: visible(match.group()), document)


def redact(text: object) -> str:
    """`text` with URL userinfo, authorization headers, bearer tokens and query credentials masked."""
    text = str(text)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{(m.group(3) + ' ') if m.group(3) else ''}{REDACTED}",
                            text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def for_message(text: object) -> str:
    """A message line for people: redacted, then made printable."""
    return printable(redact(text))
