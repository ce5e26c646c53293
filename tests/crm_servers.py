"""Offline stand-ins for the CRM APIs, answering in their documented shapes.

``HubSpotServer`` is a local HTTP server for hubspot-api-client (which talks to
urllib3 directly): the CRM v3 search API (filter on a property ``GTE`` epoch
milliseconds, sorted ascending, ``after`` paging), the v4 associations batch read,
and the owners API. Its records live in ``data`` (tests/data/sync/hubspot.json),
which a test may change between pulls; ``fail_next`` answers the next requests
with 429 and ``Retry-After: 0``; ``requests`` records what was asked.

``salesforce_responses`` registers simple-salesforce's REST calls with the
``responses`` library: sobject describe, SOQL query with ``nextRecordsUrl``
paging, evaluated against tests/data/sync/salesforce.json.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DATA = Path(__file__).parent / "data" / "sync"


def _millis(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


class HubSpotServer:
    def __init__(self, page_size_cap: int = 100) -> None:
        self.data = json.loads((DATA / "hubspot.json").read_text())
        self.fail_next = 0
        self.requests: list[tuple[str, str, dict]] = []
        self.search_cap = 10_000
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def _answer(self, method: str) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                outer.requests.append((method, self.path, body))
                if self.headers.get("Authorization") != f"Bearer {outer.data['token']}":
                    self._send(401, {"status": "error", "category": "INVALID_AUTHENTICATION"})
                    return
                if outer.fail_next:
                    outer.fail_next -= 1
                    self._send(
                        429,
                        {"status": "error", "category": "RATE_LIMITS"},
                        {"Retry-After": "0"},
                    )
                    return
                status, answer = outer.route(method, self.path, body)
                self._send(status, answer)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubSpotServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def route(self, method: str, path: str, body: dict) -> tuple[int, dict]:
        url = urlparse(path)
        m = re.fullmatch(r"/crm/v3/objects/(\w+)/search", url.path)
        if method == "POST" and m:
            return 200, self.search(m.group(1), body)
        m = re.fullmatch(r"/crm/v4/associations/deals/(\w+)/batch/read", url.path)
        if method == "POST" and m:
            links = self.data["associations"][m.group(1)]
            results = [
                {
                    "from": {"id": i["id"]},
                    "to": [
                        {
                            "toObjectId": t,
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}
                            ],
                        }
                        for t in links.get(i["id"], [])
                    ],
                }
                for i in body["inputs"]
                if i["id"] in links
            ]
            return 200, {
                "status": "COMPLETE",
                "results": results,
                "startedAt": "2024-06-01T00:00:00Z",
                "completedAt": "2024-06-01T00:00:01Z",
            }
        if method == "GET" and url.path.rstrip("/") == "/crm/v3/owners":
            return 200, {"results": self.data["owners"]}
        return 404, {"status": "error", "message": f"no route {method} {url.path}"}

    def search(self, kind: str, body: dict) -> dict:
        records = self.data[kind]
        prop = body["sorts"][0]["propertyName"]
        for group in body.get("filterGroups") or []:
            for f in group["filters"]:
                assert f["operator"] == "GTE" and f["propertyName"] == prop
                records = [r for r in records if _millis(r["properties"][prop]) >= int(f["value"])]
        records = sorted(records, key=lambda r: (_millis(r["properties"][prop]), int(r["id"])))
        start = int(body.get("after") or 0)
        if start >= self.search_cap:
            return {"status": "error", "message": "search past the result cap"}
        limit = body.get("limit", 10)
        page = records[start : start + limit]
        wanted = set(body.get("properties") or [])
        out = {
            "total": len(records),
            "results": [
                {
                    "id": r["id"],
                    "properties": {k: v for k, v in r["properties"].items() if k in wanted},
                    "createdAt": r["properties"].get("createdate"),
                    "updatedAt": r["properties"][prop],
                    "archived": False,
                }
                for r in page
            ],
        }
        if start + limit < len(records):
            out["paging"] = {"next": {"after": str(start + limit), "link": "?after=x"}}
        return out


# --- Salesforce ------------------------------------------------------------------------

SF_INSTANCE = "https://acme.my.salesforce.com"


def _soql(query: str, records: dict[str, list[dict]]) -> list[dict]:
    """Enough SOQL for the queries sync makes: SELECT fields FROM Object
    [WHERE SystemModstamp >= <datetime> | <field> IN ('a','b')] [ORDER BY …]."""
    m = re.fullmatch(
        r"SELECT (.+?) FROM (\w+)(?: WHERE (.+?))?(?: ORDER BY (.+))?", query.strip(), re.S
    )
    assert m, query
    fields = [f.strip() for f in m.group(1).split(",")]
    rows = records[m.group(2)]
    where = m.group(3)
    if where:
        since = re.fullmatch(r"SystemModstamp >= (\S+)", where)
        within = re.fullmatch(r"(\w+) IN \((.*)\)", where)
        if since:
            at = datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
            rows = [r for r in rows if _sf_time(r["SystemModstamp"]) >= at]
        elif within:
            ids = set(re.findall(r"'([^']*)'", within.group(2)))
            rows = [r for r in rows if r.get(within.group(1)) in ids]
        else:
            raise AssertionError(f"unexpected WHERE {where}")
    if m.group(4):
        rows = sorted(rows, key=lambda r: (_sf_time(r["SystemModstamp"]), r["Id"]))
    return [
        {
            "attributes": {"type": m.group(2), "url": f"/x/{r['Id']}"},
            **{f: r.get(f) for f in fields},
        }
        for r in rows
    ]


def _sf_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def salesforce_responses(rsps, data: dict, *, page: int = 2, version: str = "59.0") -> list:
    """Register the describe and query routes on ``rsps`` (a responses.RequestsMock);
    returns the list the SOQL queries asked are appended to."""
    import responses

    base = f"{SF_INSTANCE}/services/data/v{version}"
    asked: list[str] = []
    pending: dict[str, list[dict]] = {}

    def describe(request):
        obj = re.search(r"/sobjects/(\w+)/describe", request.url).group(1)
        fields = [{"name": f, "type": "string"} for f in data["fields"][obj]]
        return 200, {}, json.dumps({"name": obj, "fields": fields})

    def query(request):
        url = urlparse(request.url)
        if "/query/" in url.path and url.path.rstrip("/").split("/")[-1].startswith("01g"):
            rows = pending.pop(url.path.rstrip("/").split("/")[-1])
        else:
            q = parse_qs(url.query)["q"][0]
            asked.append(q)
            rows = _soql(q, copy.deepcopy(data["records"]))
        body = {"totalSize": len(rows), "done": len(rows) <= page, "records": rows[:page]}
        if len(rows) > page:
            token = f"01gNEXT{len(pending)}{len(asked)}-{page}"
            pending[token] = rows[page:]
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{token}"
            body["totalSize"] = len(rows)
        return 200, {}, json.dumps(body)

    rsps.add_callback(
        responses.GET, re.compile(rf"{re.escape(base)}/sobjects/\w+/describe/?"), callback=describe
    )
    rsps.add_callback(responses.GET, re.compile(rf"{re.escape(base)}/query/?.*"), callback=query)
    return asked
