"""Slack receiver: slack-sdk `WebClient`, Block Kit from `alerting.blockkit`, one thread per incident.

* firing   -> `chat.postMessage` in the channel, then the chart (if any) via `files_upload_v2` in its thread;
* repeat   -> a reply in the thread;
* resolved -> `chat.update` of the parent (it then reads "Resolved"), then a reply in the thread.

A chart that fails for a passing reason is retried; one that cannot be uploaded for good (no files:write
scope) is logged and skipped, since the message itself is out.

Idempotent steps run before the one that is not, and a failure after the parent was posted carries the
parent's `ts` (`partial_ref`), so a retry never posts the same message twice.

Short HTTP-level retries (429 with Retry-After, 500/503, dropped connections) are slack-sdk's own retry
handlers; whatever is still failing after them goes back to the outbox as `RetryableDeliveryError`.
Channel should be a channel ID (C...): `chat.update` and file uploads need the ID, which is otherwise
learnt from the first `chat.postMessage` response.
"""
from __future__ import annotations

import http.client
import logging
import os
import random
import socket
import urllib.error
from typing import Any, Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter

from alerting.blockkit import render, with_incident_actions
from alerting.notification import Notification, RetryableDeliveryError
from core.errors import DeliveryError

log = logging.getLogger(__name__)

TOKEN_ENV_VARS = ("MQ_SLACK_TOKEN", "SLACK_BOT_TOKEN")
_TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
_AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
_NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException)


def bot_token() -> str | None:
    """The Slack bot token: $MQ_SLACK_TOKEN or $SLACK_BOT_TOKEN, else, inside an Airflow task, the password of
    the Connection `slack_api_default`; None when there is none. The one place the token is looked up."""
    token = next((os.environ[v] for v in TOKEN_ENV_VARS if os.environ.get(v)), None)
    if token or not os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return token
    try:  # inside an Airflow task: the Connection holds the bot token
        from airflow.sdk import BaseHook

        return BaseHook.get_connection("slack_api_default").password or None
    except Exception:  # no such connection: the receiver reports "no token" and the item stays queued
        return None


class SlackReceiver:
    """Posts notifications to one Slack channel. The token is never shown by repr/str or in logs."""

    def __init__(
        self,
        name: str,
        channel: str,
        token: str | None = None,
        base_url: str | None = None,
        client: WebClient | None = None,
        *,
        http_retries: int = 2,
        backoff_factor: float = 0.5,
        timeout: int = 30,
        status_url: str | None = None,
    ) -> None:
        if not name:
            raise ValueError(f"{type(self).__name__}.name must not be empty (got {name!r})")
        if not channel:
            raise ValueError(f"{type(self).__name__}.channel must not be empty (got {channel!r})")
        self.name = name
        self.channel = channel
        self.base_url = base_url
        self.status_url = status_url   # set when `mq serve` handles this app's buttons
        self._channel_id: str | None = channel if channel[:1] in ("C", "G", "D") and channel.isupper() else None
        if client is None:
            token = token or bot_token()
            if token:
                client = _make_client(token, base_url, http_retries, backoff_factor, timeout)
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, channel={self.channel!r}, base_url={self.base_url!r})"

    __str__ = __repr__

    def deliver(self, n: Notification, thread_ref: str | None) -> str | None:
        text, blocks = render(n)
        if n.action == "firing" and self.status_url and n.kind != "certification":   # incidents only
            blocks = with_incident_actions(blocks, n, self.status_url)
        if n.action == "firing":
            ts = thread_ref  # set when an earlier attempt posted the parent but failed afterwards
            if ts is None:
                ts = self._post(text, blocks, None)
            if n.chart_png:
                try:
                    self._finish_after_parent(ts, lambda: self._upload_chart(n, ts))
                except DeliveryError as exc:
                    # The message is out; a chart that cannot be uploaded for good (say the app lacks
                    # files:write) must not hold back every later alert of this receiver.
                    log.warning("receiver %s: message %s sent without its chart: %s", self.name, ts, exc)
            return ts
        if thread_ref is None:  # the parent is unknown (sent before this store existed): start a new one
            return self._post(text, blocks, None)
        if n.action == "resolved":
            self._update_parent(thread_ref, text, blocks)
        return self._post(text, blocks, thread_ref)

    # -- Slack calls -----------------------------------------------------------------------------------

    def _post(self, text: str, blocks: list[dict], thread_ts: str | None) -> str:
        args: dict[str, Any] = {"channel": self.channel, "text": text, "blocks": blocks}
        args |= {"thread_ts": thread_ts} if thread_ts else {"unfurl_links": False, "unfurl_media": False}
        response = self._call("chat.postMessage", lambda c: c.chat_postMessage(**args))
        self._channel_id = response.get("channel") or self._channel_id
        log.info("receiver %s: posted to %s (ts %s)", self.name, self.channel, response.get("ts"))
        return response["ts"]

    def _update_parent(self, ts: str, text: str, blocks: list[dict]) -> None:
        channel = self._channel_id or self.channel
        try:
            self._call("chat.update", lambda c: c.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))
        except DeliveryError as exc:
            # A deleted parent, or a channel configured by name (chat.update needs the ID), must not hold
            # back the resolution reply itself.
            skippable = ("message_not_found", "cant_update_message") + (("channel_not_found",) if
                                                                        self._channel_id is None else ())
            if any(error in str(exc) for error in skippable):
                log.warning("receiver %s: parent %s not marked resolved (configure the channel ID): %s",
                            self.name, ts, exc)
                return
            raise

    def _upload_chart(self, n: Notification, ts: str) -> None:
        self._call(
            "files.upload",
            lambda c: c.files_upload_v2(
                channel=self._channel_id or self.channel,
                thread_ts=ts,
                content=bytes(n.chart_png),
                filename=f"{_slug(n.metric or n.kind)}_{_slug(n.partition)}.png",
                title=n.title,
                alt_txt=f"{n.metric or n.kind}: observed series with the expected band",
            ),
        )

    @staticmethod
    def _finish_after_parent(ts: str, step: Callable[[], None]) -> None:
        try:
            step()
        except (RetryableDeliveryError, DeliveryError) as exc:
            exc.partial_ref = ts
            raise

    def _call(self, method: str, call: Callable[[WebClient], Any]) -> Any:
        """One Web API call, with failures turned into retryable or needs-a-fix errors that say what to do."""
        if self._client is None:
            raise DeliveryError(
                f"receiver {self.name!r}: no Slack bot token; set {' or '.join(TOKEN_ENV_VARS)} or pass token="
            )
        try:
            return call(self._client)
        except SlackApiError as exc:
            raise self._classify(method, exc) from None
        except SlackRequestError as exc:  # e.g. the upload URL answered non-200
            raise RetryableDeliveryError(f"receiver {self.name!r}: slack {method}: {exc}") from None
        except _NETWORK_ERRORS as exc:
            raise RetryableDeliveryError(
                f"receiver {self.name!r}: slack {method}: {type(exc).__name__}: {exc}"
            ) from None

    def _classify(self, method: str, exc: SlackApiError) -> Exception:
        response = exc.response
        status = getattr(response, "status_code", None)
        error = str(response.get("error", "unknown_error")) if isinstance(response.data, dict) else "unknown_error"
        prefix = f"receiver {self.name!r}: slack {method} failed with {error} (HTTP {status})"
        if status == 429 or error == "ratelimited":
            headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            retry_after = _seconds(headers.get("retry-after"))
            return RetryableDeliveryError(f"{prefix}; rate limited, retry after {retry_after}s",
                                          retry_after=retry_after)
        if (status is not None and status >= 500) or error in _TRANSIENT_ERRORS:
            return RetryableDeliveryError(f"{prefix}; Slack-side failure, will retry")
        if error in _AUTH_ERRORS:
            hint = f"the bot token is invalid or revoked: put a valid xoxb- token in {TOKEN_ENV_VARS[0]}"
        elif error == "channel_not_found":
            hint = f"channel {self.channel!r} does not exist or is private: check the channel ID in the receiver config"
        elif error == "not_in_channel":
            hint = f"the app is not a member of {self.channel!r}: /invite it to the channel"
        elif error == "is_archived":
            hint = f"channel {self.channel!r} is archived: unarchive it or route to another channel"
        elif error == "missing_scope":
            hint = f"the app lacks the scope {response.get('needed', '?')}: add it and reinstall the app"
        else:
            hint = "Slack refused the request; it stays queued until fixed"
        return DeliveryError(f"{prefix}: {hint}")


def _make_client(token: str, base_url: str | None, retries: int, backoff_factor: float, timeout: int) -> WebClient:
    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor, jitter=_ProportionalJitter())
    handlers = []
    if retries > 0:
        handlers = [
            ConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
            _CappedRateLimitRetryHandler(max_retry_count=retries),
            ServerErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
        ]
    kwargs: dict[str, Any] = {"token": token, "timeout": timeout, "retry_handlers": handlers}
    if base_url:
        kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
    return WebClient(**kwargs)


class _CappedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Waits in-process for a short Retry-After only. slack-sdk's handler sleeps whatever Slack asks,
    without a cap (79 s for two items was measured); a longer wait goes back to the outbox instead,
    whose `next_attempt_at` honours it without holding the worker."""

    MAX_SLEEP_SECONDS = 5.0

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = next((_seconds(v) for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        return wait is not None and wait <= self.MAX_SLEEP_SECONDS


class _ProportionalJitter(Jitter):
    """Up to +50 % of the wait (slack-sdk's default adds up to a whole second, whatever the backoff factor)."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + 0.5 * random.random())


def _seconds(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:60] or "chart"
