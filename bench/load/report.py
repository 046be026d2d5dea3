"""Markdown for bench.load results: one table per target, the harness's ceiling, and the
requests issued by kind for the scenarios that mix several kinds."""

from __future__ import annotations

from typing import Any

from bench.load.plans import SCENARIOS

WHAT = {
    "read": "GET Patient/{{id}}",
    "create": "POST Patient",
    "update": "PUT Patient/{{id}} (new version each time)",
    "search": "the common queries of a patient record (by kind below), equal shares",
    "transaction": "POST transaction Bundle of {tx} entries",
    "import": "POST batch Bundle of {batch} entries (Prefer: return=minimal)",
    "mixed": "30 % reads (Patient, Observation), 40 % searches (as `search`), 12 % creates "
    "(Observations of known patients, new Patients), 8 % updates, 10 % visit transactions "
    "(an Encounter, 4 Observations and, if the server takes them, a DocumentReference)",
}


def _n(x: float | None, fmt: str = ",.0f") -> str:
    return "–" if x is None else format(x, fmt)


def errors(r: dict[str, Any]) -> str:
    if "error" in r:
        if r.get("failed_probes"):
            return "not run: " + "; ".join(
                f"{k} → {p.get('status')}" for k, p in r["failed_probes"].items()
            )
        return f"run failed: {r['error'][:200]}"
    e = r.get("errors") or {}
    if not r.get("requests"):
        return "**no request completed within the run** (too short for this scenario?)"
    return ", ".join(f"{v:,} {k}" for k, v in e.items() if v) or "0"


def what(scen: str, opts: dict[str, Any]) -> str:
    return WHAT.get(scen, scen).format(tx=opts.get("tx_entries"), batch=opts.get("import_batch"))


def table(result: dict[str, Any], label: bool = False) -> list[str]:
    ceil = result.get("ceiling") or {}
    lab0 = "target | " if label else ""
    lines = [
        f"| {lab0}scenario | requests | conns | req/s | resources/s | p50 ms | p95 ms | p99 ms "
        "| max ms | errors | harness ceiling req/s | ceiling ÷ req/s | wrk CPU µs/req at ceiling |",
        "| " + ("--- | " if label else "") + "--- | " + "---: | " * 8 + "--- | " + "---: | " * 3,
    ]
    for scen in [s for s in SCENARIOS if s in result.get("scenarios", {})]:
        r = result["scenarios"][scen]
        lab = f"{result.get('label')} | " if label else ""
        if "ok_rps" not in r:
            lines.append(f"| {lab}{scen} | " + "| " * 8 + f"{errors(r)} | | | |")
            continue
        c = ceil.get(scen) or {}
        ratio = r.get("ceiling_ratio")
        lines.append(
            f"| {lab}{scen} | {r['requests']:,} | {r['connections']} | {_n(r['ok_rps'], ',.1f')} | "
            f"{_n(r['resources_per_s'])} | {_n(r['p50_ms'], ',.1f')} | {_n(r['p95_ms'], ',.1f')} | "
            f"{_n(r['p99_ms'], ',.1f')} | {_n(r['max_ms'], ',.0f')} | {errors(r)} | "
            f"{_n(c.get('ok_rps')) if 'ok_rps' in c else errors(c) if c else '–'} | "
            f"{'–' if ratio is None else f'×{ratio:,.1f}'} | "
            f"{_n(c.get('wrk_cpu_us_per_request'), ',.1f')} |"
        )
    return lines


def kinds(result: dict[str, Any]) -> list[str]:
    out = []
    for scen in ("mixed", "search"):
        r = result.get("scenarios", {}).get(scen) or {}
        issued = r.get("issued_by_kind")
        if not issued:
            continue
        total = sum(issued.values()) or 1
        out.append(
            f"- {result.get('label')} `{scen}`, requests issued by kind: "
            + ", ".join(
                f"{k} {v:,} ({100 * v / total:.0f} %)"
                for k, v in sorted(issued.items(), key=lambda kv: -kv[1])
            )
            + "."
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    opts = result.get("options", {})
    sw = result.get("server", {})
    seed = result.get("seed", {})
    ceil = result.get("ceiling") or {}
    L = [
        f"### {result.get('label')}",
        "",
        f"Target `{result.get('target')}` ({sw.get('name', '?')} {sw.get('version', '?')}, FHIR "
        f"{sw.get('fhirVersion', '?')}), {result.get('started')}; "
        f"{'with' if opts.get('authenticated') else 'without'} a bearer token. "
        f"Seeded through its API: {seed.get('patients', 0):,} patient records = "
        f"{seed.get('resources', 0):,} resources in {seed.get('seconds', '?')} s "
        f"({seed.get('method', '?')}, {_n(seed.get('resources_per_s'))} resources/s). "
        f"wrk -t{opts.get('threads')} for {opts.get('duration_s')} s after a "
        f"{opts.get('warmup_s')} s warm-up per scenario.",
        "",
        *table(result),
        "",
    ]
    L += [f"- `{s}`: {what(s, opts)}." for s in result.get("scenarios", {})]
    L += kinds(result)
    done = [c for c in ceil.values() if isinstance(c, dict) and c.get("ok_rps")]
    if done:
        L.append(
            "- *Harness ceiling*: the same wrk command (same plan, threads and connections, at "
            "most 5 s) against a trivial endpoint on the harness's machine, "
            "`bench/ceiling_app.py` `any_rsgi` (any request → a stored ~600-byte Patient; "
            "granian RSGI, 1 worker). *ceiling ÷ req/s* = how many times the scenario's rate "
            "the harness drove there. That endpoint is itself a Python server sharing the "
            "cores with wrk, so the ceiling is a lower bound of the harness's capacity: "
            "*wrk CPU µs/req at ceiling* is the CPU time wrk spent per request of that plan, "
            "so one wrk thread with a core to itself can issue about 1,000,000 ÷ that figure "
            "requests/s."
        )
    elif ceil.get("error"):
        L.append(f"- Harness ceiling: failed ({ceil['error'][:200]}).")
    return "\n".join(L)
