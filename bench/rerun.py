"""Re-run one suite of bench/suites.py after a full `make bench` and put its result into that
run's bench/out/results.json, marked as re-run (when, on which commit), then re-render
docs/benchmarks.md: for a change that touches one suite, without re-measuring the rest.

    .venv/bin/python -m bench.rerun bench.mhd [--quick]
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import report, suites

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "out" / "results.json"


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    if len(names) != 1 or names[0] not in suites.SUITES:
        print(f"usage: python -m bench.rerun SUITE [--quick]; suites: {', '.join(suites.SUITES)}")
        return 2
    if not RESULTS.exists():
        print(f"{RESULTS.relative_to(ROOT)} is missing: run `make bench` first")
        return 2
    name, quick = names[0], "--quick" in argv
    results = json.loads(RESULTS.read_text())
    started = time.time()
    result = suites.load(name).run(quick)
    results.setdefault("suites", {})[name] = {
        "result": result,
        "elapsed_s": round(time.time() - started, 1),
        "rerun": {
            "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": report.git_state(),
        },
    }
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    doc = ROOT / "docs" / "benchmarks.md"
    doc.write_text(report.render(results))
    print(suites.load(name).markdown(result))
    print(f"stored in {RESULTS.relative_to(ROOT)}; {doc.relative_to(ROOT)} re-rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
