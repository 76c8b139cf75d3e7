"""A receiver that POSTs each notification as JSON to a URL.

`format="mq"` (default) sends the data: `{"receiver", "thread_ref", "text", "notification"}`.
`format="slack"` sends `{"text", "blocks"}`, which Slack incoming webhooks accept (no threads there).

The URL often carries a secret (Slack webhook paths do), so repr and error messages show only its host.
"""
from __future__ import annotations

import http.client
import json
import logging
import socket
import urllib.error
import urllib.parse
import urllib.request

from alerting.blockkit import render
from alerting.notification import Notification, RetryableDeliveryError
from core.errors import DeliveryError

log = logging.getLogger(__name__)
FORMATS = ("mq", "slack")


class WebhookReceiver:
    def __init__(self, name: str, url: str, *, format: str = "mq", timeout: float = 10.0,
                 headers: dict[str, str] | None = None) -> None:
        parsed = urllib.parse.urlsplit(url or "")
        if not name:
            raise ValueError(f"{type(self).__name__}.name must not be empty (got {name!r})")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"{type(self).__name__}.url must be an http(s) URL (got scheme {parsed.scheme!r})")
        if format not in FORMATS:
            raise ValueError(f"{type(self).__name__}.format must be one of {FORMATS} (got {format!r})")
        self.name = name
        self.format = format
        self.timeout = timeout
        self._url = url
        self._headers = dict(headers or {})
        self._where = f"{parsed.scheme}://{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self._where + '/...'!r}, format={self.format!r})"

    __str__ = __repr__

    def deliver(self, n: Notification, thread_ref: str | None) -> str | None:
        text, blocks = render(n)
        if self.format == "slack":
            body = {"text": text, "blocks": blocks}
        else:
            body = {"receiver": self.name, "thread_ref": thread_ref, "text": text, "notification": n.to_json()}
        request = urllib.request.Request(
            self._url, data=json.dumps(body).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", **self._headers},
        )
        prefix = f"receiver {self.name!r}: webhook {self._where}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code == 408 or exc.code >= 500:
                retry_after = _seconds(exc.headers.get("Retry-After"))
                raise RetryableDeliveryError(f"{prefix} answered HTTP {exc.code}; will retry",
                                             retry_after=retry_after) from None
            hint = "check the URL and its credentials" if exc.code in (401, 403, 404, 410) else "check the payload"
            raise DeliveryError(f"{prefix} answered HTTP {exc.code}: {hint}; it stays queued until fixed") from None
        except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise RetryableDeliveryError(f"{prefix} unreachable ({type(exc).__name__}: {reason}); will retry") from None
        log.info("receiver %s: posted %s to %s", self.name, n.key, self._where)
        return thread_ref if n.action != "firing" and thread_ref else n.key


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
