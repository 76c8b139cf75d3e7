"""A local stand-in for the Slack Web API, enough for slack-sdk's `WebClient` to talk to.

Speaks chat.postMessage, chat.update, auth.test and the three steps of `files_upload_v2`
(files.getUploadURLExternal, a POST of the bytes to the upload URL it hands out,
files.completeUploadExternal). Every request is recorded; failures are programmable per method:

    with running_slack_server() as server:
        client = WebClient(token=server.token, base_url=server.api_url)
        server.fail_next("chat.postMessage", status=429, retry_after=1)
        server.fail_next("chat.postMessage", error="channel_not_found", times=2)
        server.fail_next("chat.update", delay=2)  # slower than a client with timeout=1
"""
from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

VALID_TOKEN = "xoxb-test-0000-valid"


@dataclass
class RecordedRequest:
    method: str  # Slack method ("chat.postMessage"), or "upload" for the bytes POST
    body: dict[str, Any]  # JSON body, or form fields (JSON-looking values decoded)
    raw: bytes
    authorization: str | None


@dataclass
class _Failure:
    times: int
    status: int = 200
    retry_after: int | None = None
    error: str | None = None
    delay: float = 0.0


@dataclass
class SlackTestServer:
    host: str = "127.0.0.1"
    port: int = 0
    valid_tokens: set[str] = field(default_factory=lambda: {VALID_TOKEN})
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: dict[str, dict] = field(default_factory=dict)  # ts -> message as stored
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id -> bytes
    files: dict[str, dict] = field(default_factory=dict)  # file id -> completed file (title, channel, thread)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def token(self) -> str:
        return VALID_TOKEN

    # -- programming -------------------------------------------------------------------------------

    def fail_next(self, method: str, *, times: int = 1, status: int = 200, retry_after: int | None = None,
                  error: str | None = None, delay: float = 0.0) -> None:
        """The next `times` calls to `method` answer `status` (429 gets Retry-After), `{"ok": false, "error"}`,
        or (with `delay`) succeed only after `delay` seconds, past a client's timeout."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if status == 200 and error is None and not delay:
            raise ValueError("fail_next needs a non-200 status, an error or a delay")
        with self._lock:
            self._failures.setdefault(method, []).append(_Failure(times, status, retry_after, error, delay))

    def calls(self, method: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    # -- answering ---------------------------------------------------------------------------------

    def handle(self, method: str, body: dict, raw: bytes, authorization: str | None) -> tuple[int, dict, Any]:
        with self._lock:
            self.requests.append(RecordedRequest(method, body, raw, authorization))
            failure = self._take_failure(method)
        if failure is not None and failure.delay:
            time.sleep(failure.delay)  # answers normally, after the client may have given up
            failure = None
        with self._lock:
            if failure is not None:
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
                if failure.status != 200:
                    default = "ratelimited" if failure.status == 429 else "internal_error"
                    return failure.status, headers, {"ok": False, "error": failure.error or default}
                return 200, headers, {"ok": False, "error": failure.error}
            if method == "upload":
                return 200, {}, None
            token = (authorization or "").removeprefix("Bearer ").strip()
            if token not in self.valid_tokens:
                return 200, {}, {"ok": False, "error": "invalid_auth" if token else "not_authed"}
            return 200, {}, self._answer(method, body)

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return failure

    def _answer(self, method: str, body: dict) -> dict:
        if method == "auth.test":
            return {"ok": True, "team_id": "T0TEST", "user_id": "U0BOT", "bot_id": "B0BOT"}
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ids)}.000100"
            channel = _channel_id(body.get("channel", ""))
            self.messages[ts] = {"channel": channel, "text": body.get("text"), "blocks": body.get("blocks"),
                                 "thread_ts": body.get("thread_ts"), "updates": 0}
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": body.get("text"), "ts": ts}}
        if method == "chat.update":
            message = self.messages.get(body.get("ts", ""))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.update(text=body.get("text"), blocks=body.get("blocks"), updates=message["updates"] + 1)
            return {"ok": True, "channel": message["channel"], "ts": body["ts"], "text": body.get("text")}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ids):08d}"
            self.files[file_id] = {"filename": body.get("filename"), "length": int(body.get("length", 0))}
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            done = []
            for item in body.get("files") or []:
                record = self.files.setdefault(item["id"], {})
                record.update(title=item.get("title"), channel=body.get("channel_id"),
                              thread_ts=body.get("thread_ts"), completed=True)
                done.append({"id": item["id"], "title": item.get("title")})
            return {"ok": True, "files": done}
        return {"ok": False, "error": "unknown_method"}


def _channel_id(channel: str) -> str:
    return channel if channel[:1] in ("C", "G") else "C" + channel.lstrip("#").upper().replace("-", "")


def _handler_for(server: SlackTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/upload/"):
                file_id = self.path.rsplit("/", 1)[-1]
                status, headers, payload = server.handle("upload", {"file_id": file_id}, raw, None)
                if status == 200:
                    with server._lock:
                        server.uploads[file_id] = raw
                self._send(status, headers, f"OK - {len(raw)}".encode() if status == 200 else b"failed", "text/plain")
                return
            if not self.path.startswith("/api/"):
                self._send(404, {}, b"not found", "text/plain")
                return
            method = self.path[len("/api/"):].split("?", 1)[0]
            status, headers, payload = server.handle(method, _parse(self.headers.get("Content-Type", ""), raw),
                                                     raw, self.headers.get("Authorization"))
            self._send(status, headers, json.dumps(payload).encode(), "application/json; charset=utf-8")

        def _send(self, status: int, headers: dict, data: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left, which is what a delay test wants

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    return Handler


def _parse(content_type: str, raw: bytes) -> dict:
    text = raw.decode("utf-8") if raw else ""
    if content_type.startswith("application/json"):
        return json.loads(text or "{}")
    body: dict[str, Any] = {}
    for name, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        try:
            body[name] = json.loads(value) if value[:1] in ("[", "{") else value
        except json.JSONDecodeError:
            body[name] = value
    return body


@contextlib.contextmanager
def running_slack_server() -> Iterator[SlackTestServer]:
    """Start the server on an ephemeral port of 127.0.0.1 in a thread; stop it on exit."""
    state = SlackTestServer()
    httpd = ThreadingHTTPServer((state.host, 0), _handler_for(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="slack-test-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
