"""One redaction for every URL the tool prints or writes: a storage URL may carry a password.

Used by the run folder (environment.json), the report, the lock and retry messages and every error
line the CLI prints, so a password given on the command line never lands in a file or a log.
"""

from __future__ import annotations

import re

MASK = "***"
# user:password@ and :password@ in the authority part of any scheme://...
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*):(?P<secret>[^\s@/?#]*)@")
# password=..., token=..., secret=..., api_key=... in a query string (or key=value text after it).
_SECRET_NAMES = r"[A-Za-z0-9_\-]*(?:password|passwd|pwd|token|secret|key|credential)[A-Za-z0-9_\-]*"
_QUERY = re.compile(rf"(?P<head>[?&;](?:{_SECRET_NAMES}))=(?P<secret>[^&;#\s'\"]*)", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with every password of a URL and every secret query parameter replaced by ***."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", str(text))
    return _QUERY.sub(lambda m: f"{m['head']}={MASK}", text)
