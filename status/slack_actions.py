"""Slack interactivity: the buttons of a firing message (see alerting.blockkit.with_incident_actions).

Slack POSTs `payload=<json>` form-encoded, signed with the app's signing secret; a request whose
signature or timestamp does not verify is refused before anything is read (slack-sdk's
`SignatureVerifier`, https://docs.slack.dev/authentication/verifying-requests-from-slack/). A verified
action is recorded in the ledger, applied, and the message is updated in place (`chat.update`) with
who did what.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.parse

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool

from alerting.blockkit import INCIDENT_ACTIONS_BLOCK, INCIDENT_STATE_BLOCK, incident_state_block
from incidents import IncidentError
from core.timeutil import utcnow

log = logging.getLogger(__name__)
SILENCE_HOURS = 24


def add_slack_route(app: FastAPI, pipe, *, signing_secret: str, client=None, status_url: str | None = None) -> None:
    verifier = SignatureVerifier(signing_secret)

    @app.post("/slack/actions")
    async def slack_actions(request: Request) -> Response:
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            raise HTTPException(401, "invalid Slack signature")
        try:
            payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
        except (KeyError, ValueError):
            raise HTTPException(400, "expected a form field `payload` holding JSON") from None
        await run_in_threadpool(handle, pipe, payload, client)
        return Response(status_code=200)   # Slack wants a 200 within 3 s; the message is updated by API


def handle(pipe, payload: dict, client, now: dt.datetime | None = None) -> list[str]:
    """Apply the actions of one interaction payload; returns what each did, in words."""
    now = now or utcnow()
    user = payload.get("user") or {}
    who = user.get("username") or user.get("name") or user.get("id") or "unknown"
    channel = (payload.get("channel") or {}).get("id") or (payload.get("container") or {}).get("channel_id")
    message = payload.get("message") or {}
    ts = message.get("ts") or (payload.get("container") or {}).get("message_ts")
    done = []
    for action in payload.get("actions") or []:
        action_id, iid = action.get("action_id"), action.get("value")
        if action_id not in ("mq_ack", "mq_silence_24h"):
            continue   # "Open status page" is a link; Slack still tells us it was clicked
        pipe.ledger.append("slack_action", f"slack:{action.get('action_ts') or now.timestamp()}:{action_id}", {
            "action_id": action_id, "incident_id": iid, "user": who, "user_id": user.get("id"),
            "channel": channel, "message_ts": ts, "at": now.isoformat()})
        if action_id == "mq_ack":
            done.append(_ack(pipe.incidents, iid, who))
        else:
            done.append(_silence(pipe, iid, who, now))
    if done and client is not None and channel and ts:
        _update_message(client, channel, ts, message, " · ".join(done))
    return done


def _ack(book, iid: str, who: str) -> str:
    try:
        book.act(iid, "ack", by=who, via="slack")
        return f"Acknowledged by {who}"
    except IncidentError as exc:
        return f"{who} tried to acknowledge: {exc}"


def _silence(pipe, iid: str, who: str, now: dt.datetime) -> str:
    """One silence per (kind, metric) of the incident's alerts, for 24 hours."""
    expires = now + dt.timedelta(hours=SILENCE_HOURS)
    made = []
    for kind, metric in sorted({(a["kind"], a["subject"]) for a in pipe.incidents.alerts(iid)}):
        s = pipe.alerts.silences.create({"kind": kind, "metric": metric}, author=who,
                                        reason=f"silenced from Slack on incident {iid}", expires_at=expires, now=now)
        pipe.ledger.append("silence", f"silence:{s.id}:created", {
            "id": s.id, "matchers": s.matchers, "author": s.author, "reason": s.reason,
            "expires_at": s.expires_at.isoformat()})
        made.append(s.id)
    return f"Silenced for {SILENCE_HOURS} h by {who} (silence {', '.join(f'#{m}' for m in made)})"


def _update_message(client, channel: str, ts: str, message: dict, text: str) -> None:
    """Rewrite the message in place: the original blocks, with a state line above the buttons."""
    blocks = [b for b in message.get("blocks") or [] if b.get("block_id") != INCIDENT_STATE_BLOCK]
    at = next((k for k, b in enumerate(blocks) if b.get("block_id") == INCIDENT_ACTIONS_BLOCK), len(blocks))
    blocks.insert(at, incident_state_block(text))
    try:
        client.chat_update(channel=channel, ts=ts, text=message.get("text") or text, blocks=blocks)
    except SlackApiError as exc:   # the action is recorded either way; the message is a convenience
        log.warning("could not update Slack message %s in %s: %s", ts, channel, exc.response.get("error"))
