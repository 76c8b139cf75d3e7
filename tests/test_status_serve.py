"""`mq serve` on the worked demo, tested against the running server: the page loads in headless
Chromium with the demo's incidents, an Acknowledge click (driven through the DevTools protocol)
changes the incident in the store, writes need the token, and the Slack endpoint accepts signed
actions only, records them and updates the message in place."""
from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from alerting.notification import Notification
from alerting.receivers.slack import SlackReceiver
from slack_server import running_slack_server
from status.app import create_app

TOKEN = "page-token-1"
SECRET = "slack-signing-secret-1"
CHANNEL = "C0TEST"
TIMEOUT = 120   # seconds: generous for a loaded machine (not a performance assertion)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the status server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def running(worked_demo):
    pipe = worked_demo[0]
    with running_slack_server() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        app = create_app(pipe, token=TOKEN, slack_signing_secret=SECRET, slack_client=client)
        with serving(app) as url:
            yield pipe, url, slack, worked_demo[2]


def _open_incident(pipe, skip=()):
    return next(i for i in pipe.incidents.list() if i.status == "open" and i.id not in skip)


def test_page_lists_open_incidents_grid_and_charts_and_writes_need_the_token(running):
    pipe, url, *_ = running
    page = httpx.get(url + "/", timeout=TIMEOUT).text
    open_ids = [i.id for i in pipe.incidents.list(open_only=True)]
    assert open_ids and all(f'id="{i}"' in page for i in open_ids)
    assert 'id="today"' in page and 'id="period"' in page and page.count("<svg") == 3
    assert "https://" not in page and "<script" not in page          # works offline, nothing to fetch
    inc = _open_incident(pipe)
    refused = httpx.post(f"{url}/incidents/{inc.id}/ack", data={"by": "mallory", "token": "wrong"},
                         timeout=TIMEOUT)
    assert refused.status_code == 401 and pipe.incidents.get(inc.id).status == "open"
    status = httpx.get(url + "/api/status", timeout=TIMEOUT).json()
    detail = httpx.get(f"{url}/incidents/{inc.id}", timeout=TIMEOUT)
    assert detail.status_code == 200 and "Timeline" in detail.text and inc.title in detail.text
    assert {s["status"] for s in status} <= {"certified", "provisional", "failed"} and status


class DevTools:
    """The few Chrome DevTools Protocol calls the test needs, over the page's websocket."""

    def __init__(self, ws) -> None:
        self.ws, self.ids = ws, itertools.count(1)

    def call(self, method: str, **params):
        n = next(self.ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(expression):
                    return
            except RuntimeError:   # the page is navigating: its old execution context is gone
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}")

    def screenshot(self, path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))


@contextlib.contextmanager
def chromium(tmp_path):
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    profile = tmp_path / "profile"
    proc = subprocess.Popen([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "--window-size=1200,1600", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline and proc.poll() is None, "chromium did not start"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json") as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        from websockets.sync.client import connect

        with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            yield DevTools(ws)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_acknowledge_click_in_headless_chromium_changes_the_incident(running, tmp_path):
    pipe, url, *_ = running
    inc = _open_incident(pipe)
    with chromium(tmp_path) as page:
        page.call("Page.enable")
        page.call("Page.navigate", url=url + "/")
        page.wait_for(f"document.readyState === 'complete' && !!document.getElementById('{inc.id}')")
        assert page.js(f"document.getElementById('{inc.id}').dataset.status") == "open"
        assert inc.title.split(" for ")[0] in page.js(f"document.getElementById('{inc.id}').innerText")
        page.screenshot(tmp_path / "before.png")
        box = page.js(f"""(() => {{
            const f = document.querySelector('#{inc.id} form.act-ack');
            f.querySelector('[name=by]').value = 'ana';
            f.querySelector('[name=token]').value = '{TOKEN}';
            const b = f.querySelector('button'); b.scrollIntoView({{block: 'center'}});
            const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];
        }})()""")
        for kind in ("mousePressed", "mouseReleased"):   # a real click at the button's position
            page.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        page.wait_for("!!document.getElementById('message')")
        page.screenshot(tmp_path / "after.png")
        assert "open -> acknowledged by ana" in page.js("document.getElementById('message').innerText")
    got = pipe.incidents.get(inc.id)
    assert (got.status, got.row["acknowledged_by"]) == ("acknowledged", "ana")
    assert pipe.incidents.timeline(inc.id)[-1]["via"] == "web"
    assert (tmp_path / "before.png").read_bytes()[:4] == (tmp_path / "after.png").read_bytes()[:4] == b"\x89PNG"


def _signed(body: str, secret: str = SECRET, at: int | None = None) -> dict:
    ts = str(at if at is not None else int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}


def test_slack_buttons_signed_actions_are_applied_and_update_the_message(running):
    pipe, url, slack, work = running
    inc = next(i for i in pipe.incidents.list() if i.status == "open")
    line = next(json.loads(x)["notification"] for x in (work / "alerts" / "notifications.jsonl").read_text().splitlines()
                if json.loads(x)["notification"]["thread_key"] == inc.row["thread_key"]
                and json.loads(x)["notification"]["action"] == "firing")
    receiver = SlackReceiver("slack", CHANNEL, client=WebClient(token=slack.token, base_url=slack.api_url),
                             status_url=url)
    ts = receiver.deliver(Notification.from_json(line), None)
    posted = slack.messages[ts]
    buttons = posted["blocks"][-1]
    assert buttons["type"] == "actions" and [e["text"]["text"] for e in buttons["elements"]] == [
        "Acknowledge", "Silence 24 h", "Open status page"]
    assert {e["value"] for e in buttons["elements"]} == {inc.id}
    assert buttons["elements"][2]["url"] == f"{url}/#{inc.id}"

    def click(action_id: str, n: int) -> str:
        payload = {"type": "block_actions", "user": {"id": "U1", "username": "ana"}, "channel": {"id": CHANNEL},
                   "container": {"channel_id": CHANNEL, "message_ts": ts},
                   "message": {"ts": ts, "text": posted["text"], "blocks": slack.messages[ts]["blocks"]},
                   "actions": [{"action_id": action_id, "value": inc.id, "action_ts": f"1700000000.{n}"}]}
        return urllib.parse.urlencode({"payload": json.dumps(payload)})

    records = len(pipe.ledger.records())
    body = click("mq_ack", 1)
    for headers in (_signed(body, secret="not-the-secret"), _signed(body, at=int(time.time()) - 600),
                    {"Content-Type": "application/x-www-form-urlencoded"}):
        assert httpx.post(url + "/slack/actions", content=body, headers=headers, timeout=TIMEOUT).status_code == 401
    assert pipe.incidents.get(inc.id).status == "open" and len(pipe.ledger.records()) == records
    assert slack.messages[ts]["updates"] == 0

    assert httpx.post(url + "/slack/actions", content=body, headers=_signed(body), timeout=TIMEOUT).status_code == 200
    got = pipe.incidents.get(inc.id)
    assert (got.status, got.row["acknowledged_by"]) == ("acknowledged", "ana")
    recorded = [r for r in pipe.ledger.records(kind="slack_action") if r.payload["incident_id"] == inc.id]
    assert [r.payload["action_id"] for r in recorded] == ["mq_ack"]
    updated = slack.messages[ts]
    assert updated["updates"] == 1
    state = [b for b in updated["blocks"] if b.get("block_id") == "mq_incident_state"]
    assert state and "Acknowledged by ana" in state[0]["elements"][0]["text"]
    assert updated["blocks"][-1]["type"] == "actions"                 # the buttons stay

    body = click("mq_silence_24h", 2)
    assert httpx.post(url + "/slack/actions", content=body, headers=_signed(body), timeout=TIMEOUT).status_code == 200
    made = [s for s in pipe.alerts.silences.all() if inc.id in s.reason]
    assert made and all(s.author == "ana" for s in made)
    hours = (made[0].expires_at - made[0].created_at).total_seconds() / 3600
    assert hours == pytest.approx(24)
    assert "Silenced for 24 h by ana" in slack.messages[ts]["blocks"][-2]["elements"][0]["text"]
    assert pipe.ledger.verify().ok
