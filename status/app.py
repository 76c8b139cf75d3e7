"""`mq serve`: the status page and the Slack interactivity endpoint, one FastAPI app.

Reads are open (bind 127.0.0.1 unless a proxy adds authentication in front); every write needs the
server's token (form field `token` or `Authorization: Bearer ...`), and Slack's requests must carry a
valid signature. Without a token the app is read-only.
"""
from __future__ import annotations

import datetime as dt
import hmac
from pathlib import Path

import jinja2
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from markupsafe import Markup

from incidents import DISPOSITIONS, IncidentError
from incidents.evidence import pipeline_evidence
from incidents.workflow import ACTIONS, next_status
from status.certify import CertifySettings, statuses
from status.svg import history_svg
from status.views import grid, history, latest_partition

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True)
LABELS = {"ack": "Acknowledge", "assign": "Assign", "resolve": "Resolve", "signoff": "Sign off"}


def create_app(pipe, *, token: str | None = None, slack_signing_secret: str | None = None,
               slack_client=None, status_url: str | None = None, explain=None) -> FastAPI:
    """`explain(pipe, pair, partition)`: the `mq explain` text an incident's page shows (None: none)."""
    app = FastAPI(title="metrics-quality status", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.writable = bool(token)
    certify = CertifySettings.from_config(pipe.config)

    def authorised(request: Request, form_token: str | None) -> None:
        if not token:
            raise HTTPException(403, "this server is read-only: start it with MQ_SERVE_TOKEN set to allow writes")
        given = form_token or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "wrong or missing token")

    def day_of(date: str | None) -> dt.date:
        if date:
            try:
                return dt.date.fromisoformat(date)
            except ValueError:
                raise HTTPException(400, f"date: expected YYYY-MM-DD, got {date!r}") from None
        return latest_partition(pipe.store) or dt.date.today()

    @app.get("/", response_class=HTMLResponse)
    def page(date: str | None = None, msg: str | None = None, err: str | None = None) -> str:
        day = day_of(date)
        open_incidents = pipe.incidents.list(open_only=True)
        allowed = {i.id: [a for a in ACTIONS if _allows(i.status, a)] for i in open_incidents}
        charts = {}
        for subject in grid_rows(pipe.config):
            series, marked = history(pipe.config, pipe.store, subject, day)
            charts[subject] = Markup(history_svg(subject, series, marked))
        return _ENV.get_template("page.html").render(
            # The explain output re-localises each discrepancy: it is on the incident's own page.
            day=day, grid=grid(pipe.config, pipe.store, day),
            incidents=[(i, pipeline_evidence(pipe, i.id)) for i in open_incidents],
            allowed=allowed, actions=list(LABELS.items()), dispositions=DISPOSITIONS, charts=charts,
            writable=bool(token), message=msg, error=err)

    @app.get("/incidents/{iid}", response_class=HTMLResponse)
    def incident_page(iid: str) -> str:
        try:
            inc = pipe.incidents.get(iid)
        except IncidentError as exc:
            raise HTTPException(404, str(exc)) from None
        return _ENV.get_template("incident.html").render(
            i=inc, evidence=pipeline_evidence(pipe, iid, explain=explain).lines(),
            timeline=pipe.incidents.timeline(iid))

    @app.get("/api/status")
    def api_status(date: str | None = None) -> JSONResponse:
        return JSONResponse([s.to_json() for s in statuses(certify, pipe.store, day_of(date))])

    @app.get("/api/incidents")
    def api_incidents() -> JSONResponse:
        return JSONResponse([{"id": i.id, "status": i.status, "owner": i.owner, "severity": i.severity,
                              "title": i.title, "first_partition": i.first_partition.isoformat()}
                             for i in pipe.incidents.list()])

    @app.post("/incidents/{iid}/{action}")
    def act(request: Request, iid: str, action: str, by: str = Form(...), token_: str | None = Form(None, alias="token"),
            note: str | None = Form(None), to: str | None = Form(None), disposition: str | None = Form(None),
            date: str | None = Form(None)):
        authorised(request, token_)
        back = f"/?date={date}&" if date else "/?"
        try:
            t = pipe.incidents.act(iid, action, by=by, note=note, assignee=to, disposition=disposition, via="web")
        except IncidentError as exc:
            if "application/json" in request.headers.get("accept", ""):
                raise HTTPException(409, str(exc)) from None
            return RedirectResponse(back + _query("err", str(exc)), status_code=303)
        return RedirectResponse(back + _query("msg", f"{iid}: {t.from_status} -> {t.to_status} by {by}"),
                                status_code=303)

    if slack_signing_secret:
        from status.slack_actions import add_slack_route

        add_slack_route(app, pipe, signing_secret=slack_signing_secret, client=slack_client,
                        status_url=status_url)
    return app


def grid_rows(config) -> list[str]:
    """The status page's rows: every metric and pair of the config."""
    from status.certify import subjects

    return list(subjects(config))


def _allows(status: str, action: str) -> bool:
    if action == "signoff":
        return True    # a false positive can be signed off from any open state; the workflow says the rest
    try:
        next_status(status, action, assignee="x", note="x", disposition="remediated")
        return True
    except IncidentError:
        return False


def _query(key: str, value: str) -> str:
    from urllib.parse import urlencode

    return urlencode({key: value})
