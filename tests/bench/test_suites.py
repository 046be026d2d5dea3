"""The plug-in point of `make bench`: bench/suites.py modules run by `python -m bench` and their
Markdown inserted in docs/benchmarks.md by bench/report.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench.__main__ import parse_args, run_suites

from bench import report, suites

SUITE = """
import json
from pathlib import Path

def run(quick):
    if quick == "boom":
        raise ValueError("broken")
    return {"quick": quick, "n": 3}

def markdown(result):
    return f"#### fake\\n\\nn = {result['n']}, quick = {result['quick']}"
"""


@pytest.fixture
def fake_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "h2_fake_suite.py").write_text(SUITE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(suites, "SUITES", ["h2_fake_suite"])
    yield "h2_fake_suite"
    sys.modules.pop("h2_fake_suite", None)


def test_every_listed_suite_has_run_and_markdown() -> None:
    for name in suites.SUITES:
        suites.load(name)  # raises if run() or markdown() is missing


def test_suites_run_and_their_markdown_lands_in_the_page(fake_suite: str) -> None:
    args = parse_args(["--quick", "--only", "h2_fake_suite"])
    assert args.only == fake_suite and args.no_doc and args.duration == 3
    ran = run_suites(args)
    assert ran[fake_suite]["result"] == {"quick": True, "n": 3}
    page = report.render_only({"suites": ran}, fake_suite)
    assert "## Suites" in page and f"### `{fake_suite}`" in page
    assert "n = 3, quick = True" in page


def test_a_failing_suite_is_reported_not_fatal(fake_suite: str, monkeypatch) -> None:
    args = parse_args(["--only", "h2_fake_suite"])
    args.quick = "boom"
    ran = run_suites(args)
    assert "ValueError: broken" in ran[fake_suite]["error"]
    page = report.render_only({"suites": ran}, fake_suite)
    assert "**Failed**" in page and "broken" in page


def test_unknown_only_is_refused(fake_suite: str) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--only", "nope"])


def test_one_suite_re_run_into_the_full_runs_results(fake_suite: str, tmp_path, monkeypatch):
    import json

    from bench import rerun

    results = tmp_path / "results.json"
    results.write_text(json.dumps({"started": "x", "suites": {"other": {"result": {}}}}))
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    monkeypatch.setattr(rerun, "RESULTS", results)
    monkeypatch.setattr(rerun, "ROOT", tmp_path)
    monkeypatch.setattr(rerun.report, "render", lambda res: report.render_only(res, fake_suite))
    assert rerun.main([fake_suite, "--quick"]) == 0
    stored = json.loads(results.read_text())
    assert set(stored["suites"]) == {"other", fake_suite}  # the others are kept
    assert stored["suites"][fake_suite]["result"] == {"quick": True, "n": 3}
    page = doc.read_text()
    assert "n = 3, quick = True" in page and "*Re-run alone at " in page
    assert rerun.main(["not-a-suite"]) == 2
