"""Build the configured receivers. Slack tokens come from MQ_SLACK_TOKEN / SLACK_BOT_TOKEN or, inside
Airflow, from the Connection `slack_api_default` (its password); they are never logged."""
from __future__ import annotations

import os

from alerting.receivers.filesink import FileSinkReceiver
from alerting.receivers.slack import SlackReceiver
from mq.config import Config


def build_receivers(config: Config) -> dict:
    out = {}
    for spec in config.alerting.receivers:
        if spec.file:
            out[spec.name] = FileSinkReceiver(spec.name, config.resolve(spec.file))
        elif spec.slack:
            out[spec.name] = SlackReceiver(spec.name, spec.slack["channel"], token=_slack_token(),
                                           base_url=spec.slack.get("base_url") or os.environ.get("MQ_SLACK_BASE_URL"),
                                           status_url=os.environ.get("MQ_STATUS_URL"))
        elif spec.webhook:
            from alerting.receivers.webhook import WebhookReceiver

            out[spec.name] = WebhookReceiver(spec.name, spec.webhook)
    return out


def _slack_token() -> str | None:
    token = os.environ.get("MQ_SLACK_TOKEN") or os.environ.get("SLACK_BOT_TOKEN")
    if token or not os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return token
    try:  # inside an Airflow task: the Connection holds the bot token
        from airflow.sdk import BaseHook

        return BaseHook.get_connection("slack_api_default").password or None
    except Exception:  # no such connection: the receiver reports "no token" and the item stays queued
        return None
