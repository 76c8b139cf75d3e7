"""A receiver that appends one JSON line per notification to a local file: for local runs, demos and tests."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from alerting.blockkit import render
from alerting.notification import Notification
from core.errors import DeliveryError
from core.timeutil import utcnow

_LOCK = threading.Lock()  # one write per line, even when several drains share a process


class FileSinkReceiver:
    """Appends `{"receiver", "delivered_at", "thread_ref", "text", "notification"}` lines to `path`.

    The chart is not copied into the file; its size and SHA-256 are, so a reader can tell it was there.
    The thread reference of a firing line is its notification key.
    """

    def __init__(self, name: str, path: str | os.PathLike) -> None:
        if not name:
            raise ValueError(f"{type(self).__name__}.name must not be empty (got {name!r})")
        self.name = name
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, path={str(self.path)!r})"

    def deliver(self, n: Notification, thread_ref: str | None) -> str | None:
        body = n.to_json()
        chart = body.pop("chart_png")
        if chart is not None:
            body["chart_png"] = {"bytes": len(n.chart_png), "sha256": hashlib.sha256(n.chart_png).hexdigest()}
        ref = n.key if n.action == "firing" else (thread_ref or n.key)
        line = {
            "receiver": self.name,
            "delivered_at": utcnow().isoformat(),
            "thread_ref": ref,
            "text": render(n)[0],
            "notification": body,
        }
        data = json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _LOCK, open(self.path, "a", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise DeliveryError(f"receiver {self.name!r}: cannot append to {self.path}: {exc.strerror or exc}") from exc
        return ref
