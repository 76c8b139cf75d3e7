"""Secrets never printed or recorded: passwords in URLs are masked before any output or audit record.

The state-store URL (`postgresql://user:password@host/db`) and webhook URLs with credentials are the
values that reach `mq config`, `mq demo`, error messages and logs.
"""
from __future__ import annotations

import re

MASK = "***"
# scheme://user:password@host -> scheme://user:***@host (also inside longer messages)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)(?P<password>[^@\s/]+)(?P<at>@)")
_QUERY_SECRET = re.compile(r"(?i)(?P<key>[?&](?:password|token|secret|api_key|key)=)(?P<value>[^&\s]+)")


def redact(text: str) -> str:
    """`text` with every URL password and secret-looking query parameter masked."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", str(text))
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
