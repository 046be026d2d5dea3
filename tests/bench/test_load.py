"""bench.load against real servers: `hygie serve` on SQLite and PostgreSQL, the trivial
ceiling endpoint, and a tiny server that demands a bearer token. Short runs (1 s of wrk each)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.load import measure_ceilings, plans, run, runner
from bench.load.client import client_credentials_token
from bench.load.seed import id_from

pytestmark = pytest.mark.xdist_group("heavy")  # wrk takes a core: not beside the other loads
FIELDS = (
    "requests", "responses", "rps", "ok_rps", "resources_per_s", "p50_ms", "p95_ms", "p99_ms",
    "max_ms", "statuses", "errors", "error_total", "issued_by_kind", "command", "cpu_wrk_cores",
)  # fmt: skip


def test_load_scenarios_against_hygie(live_server: str, tmp_path: Path) -> None:
    result = run(
        live_server,
        ["read", "search", "create", "mixed"],
        duration=1,
        warmup=0,
        connections=2,
        patients=12,
        ceiling=False,
        out_dir=tmp_path,
        log=lambda m: None,
    )
    assert result["server"]["name"] == "Hygie"
    assert result["seed"]["patients"] == 12 and result["seed"]["method"] == "transaction"
    saved = json.loads((tmp_path / "load.json").read_text())
    assert set(saved["scenarios"]) == {"read", "search", "create", "mixed"}
    for scen, r in saved["scenarios"].items():
        missing = [f for f in FIELDS if f not in r]
        assert not missing, (scen, missing, r)
        assert r["requests"] > 0, scen
        assert r["error_total"] == 0 and r["errors"] == {}, (scen, r["errors"], result["probes"])
        assert all(200 <= int(s) < 300 for s in r["statuses"]), (scen, r["statuses"])
        assert r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert set(saved["scenarios"]["create"]["statuses"]) == {"201"}
    mixed = saved["scenarios"]["mixed"]["issued_by_kind"]
    assert set(mixed) == {"read", "search", "create", "update", "transaction"}
    # every search shape was asked, and the ids in the plans are the server's own
    search = saved["scenarios"]["search"]["issued_by_kind"]
    assert all(v > 0 for v in search.values()), search
    assert len(search) == 9 + saved["seed"]["documents"], search
    table = (tmp_path / "load.md").read_text()
    assert "| mixed |" in table and "| read |" in table


def test_ceiling_replays_each_plan_against_a_trivial_endpoint(tmp_path: Path) -> None:
    plan = plans.write(
        {
            "read": (3, [plans.Request("GET", "/fhir/Patient/x")]),
            "create": (1, [plans.Request("POST", "/fhir/Patient", body=b'{"n":"__N__"}')]),
        },
        tmp_path / "p.plan",
    )
    out = measure_ceilings(
        {"read": plan}, {"read": 4}, threads=1, duration=1, warmup=0, token=None, quiet=False
    )
    r = out["read"]
    assert r["requests"] > 100 and r["error_total"] == 0, r
    assert r["statuses"] == {"200": r["responses"]}
    assert r["cpu_server_cores"] is not None and r["wrk_cpu_us_per_request"] > 0
    # the weights were followed (3:1, a wide margin for 1 s of random choices)
    kinds = r["issued_by_kind"]
    assert 1.5 < kinds["read"] / kinds["create"] < 6, kinds


# -- a tiny server that wants "Authorization: Bearer <token>" ---------------------------------
TOKEN = "tok-7f3a"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: Counter = Counter()

    def _answer(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/auth/token":
            ok = self.headers.get("Authorization", "").startswith("Basic ") and (
                b"grant_type=client_credentials" in body
            )
            self._send(200 if ok else 401, json.dumps({"access_token": TOKEN}).encode())
            return
        good = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        _Handler.seen["good" if good else "bad"] += 1
        self._send(200 if good else 401, b'{"resourceType":"Patient"}')

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def token_server() -> Iterator[str]:
    _Handler.seen.clear()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/fhir"
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_token_is_sent_and_statuses_are_counted_over_all_threads(
    token_server: str, tmp_path: Path
) -> None:
    plan = plans.write(
        {
            "read": (1, [plans.Request("GET", "/fhir/Patient/1")]),
            "update": (1, [plans.Request("PUT", "/fhir/Patient/1", body=b'{"v":"__N__"}')]),
        },
        tmp_path / "p.plan",
    )
    opts = {"threads": 2, "conns": 2, "duration": 1, "warmup": 0}
    without = runner.run(token_server, plan, **opts)
    assert without["requests"] > 0
    assert without["statuses"] == {"401": without["responses"]}
    assert without["errors"] == {"HTTP 401": without["responses"]}
    assert without["ok_rps"] == 0 and without["responses"] == without["requests"]
    assert _Handler.seen["good"] == 0
    _Handler.seen.clear()
    with_token = runner.run(token_server, plan, token=TOKEN, **opts)
    assert with_token["requests"] > 0 and with_token["errors"] == {}
    assert with_token["statuses"] == {"200": with_token["responses"]}
    assert _Handler.seen["bad"] == 0 and _Handler.seen["good"] >= with_token["requests"]
    assert TOKEN not in with_token["command"]  # never recorded


def test_client_credentials_token(token_server: str) -> None:
    assert client_credentials_token(token_server, "bench", "s3cret") == TOKEN


def test_run_without_the_token_says_so(token_server: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="401"):
        run(token_server, ["read"], out_dir=tmp_path, log=lambda m: None)


@pytest.mark.parametrize(
    "location",
    [
        "Patient/a-1/_history/1",
        "http://h:8080/fhir/Patient/a-1/_history/3",
        "Patient/a-1",
        "https://h/baseR4/Patient/a-1/_history/1/",
    ],
)
def test_ids_come_from_the_response_location(location: str) -> None:
    assert id_from({"response": {"location": location}}, "Patient") == "a-1"
    assert id_from({"response": {"location": location}}, "Observation") is None
    assert id_from({"resource": {"resourceType": "Patient", "id": "z"}}, "Patient") == "z"


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from bench.load.plot import plot

    fake = {
        "label": "x",
        "scenarios": {"read": {"ok_rps": 1000.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}},
        "ceiling": {"read": {"ok_rps": 5000.0}},
    }
    path = plot([fake, {**fake, "label": "y"}], tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_secure_hygie_with_client_credentials(db_url: str, live_server_factory) -> None:
    """`hygie serve` requiring tokens: a client made with `hygie client create`, its token got
    by bench.load's client-credentials grant, sent by wrk on every request."""
    import subprocess
    import sys

    hygie = str(Path(sys.executable).parent / "hygie")
    made = subprocess.run(
        [hygie, "client", "create", "bench", "--scope", "system/*.cruds", "--db", db_url],
        capture_output=True,
        text=True,
        check=True,
    )
    client = json.loads(made.stdout)
    base = live_server_factory(db_url, secure=True).base
    with pytest.raises(RuntimeError, match="401"):
        run(base, ["read"], patients=2, ceiling=False, out_dir=None, log=lambda m: None)
    token = client_credentials_token(base, client["client_id"], client["client_secret"])
    result = run(
        base,
        ["read"],
        duration=1,
        warmup=0,
        connections=2,
        patients=5,
        token=token,
        documents=False,  # a DocumentReference in a transaction hangs secure SQLite (reported)
        ceiling=False,
        log=lambda m: None,
    )
    r = result["scenarios"]["read"]
    assert r["requests"] > 0 and r["errors"] == {} and set(r["statuses"]) == {"200"}, r
