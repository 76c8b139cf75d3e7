"""Build the configured receivers. The Slack token comes from `alerting.receivers.slack.bot_token`
(MQ_SLACK_TOKEN / SLACK_BOT_TOKEN or, inside Airflow, the Connection `slack_api_default`); never logged."""
from __future__ import annotations

import os

from alerting.receivers.filesink import FileSinkReceiver
from alerting.receivers.slack import SlackReceiver, bot_token
from mq.config import Config


def build_receivers(config: Config) -> dict:
    out = {}
    for spec in config.alerting.receivers:
        if spec.file:
            out[spec.name] = FileSinkReceiver(spec.name, config.resolve(spec.file))
        elif spec.slack:
            out[spec.name] = SlackReceiver(spec.name, spec.slack["channel"], token=bot_token(),
                                           base_url=spec.slack.get("base_url") or os.environ.get("MQ_SLACK_BASE_URL"),
                                           status_url=os.environ.get("MQ_STATUS_URL"))
        elif spec.webhook:
            from alerting.receivers.webhook import WebhookReceiver

            out[spec.name] = WebhookReceiver(spec.name, spec.webhook)
    return out
