"""Structured logs: one JSON object per line (`--log-format json`) or a short human line."""
from __future__ import annotations

import json
import logging
import sys


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                "logger": record.name, "msg": record.getMessage()}
        body.update(getattr(record, "mq", {}) or {})
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(body, default=str)


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = getattr(record, "mq", None)
        tail = " " + " ".join(f"{k}={v}" for k, v in extra.items()) if extra else ""
        return f"{record.levelname.lower():7s} {record.name}: {record.getMessage()}{tail}"


def setup_logging(level: str = "warning", fmt: str = "human") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    root = logging.getLogger("mq")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    for noisy in ("py4j", "great_expectations", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
