"""A PNG of throughput and latency per scenario and target (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.load.plans import SCENARIOS


def plot(results: list[dict[str, Any]], path: Path, title: str = "bench.load") -> Path:
    """results: bench.load.run() outputs (one per target/backend), on one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = [s for s in SCENARIOS if any("ok_rps" in r["scenarios"].get(s, {}) for r in results)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), dpi=110)
    width = 0.8 / max(1, len(results))
    xs = list(range(len(scen)))
    for i, r in enumerate(results):
        off = [x - 0.4 + width * (i + 0.5) for x in xs]
        rps = [r["scenarios"].get(s, {}).get("ok_rps") or 0 for s in scen]
        bars = ax1.bar(off, rps, width, label=r.get("label"))
        ax1.bar_label(bars, labels=[f"{v:,.0f}" for v in rps], fontsize=7, rotation=90, padding=2)
        color = bars.patches[0].get_facecolor() if bars.patches else None
        ceil = [((r.get("ceiling") or {}).get(s) or {}).get("ok_rps") for s in scen]
        pts = [(x, c) for x, c in zip(off, ceil, strict=True) if c]
        if pts:
            ax1.scatter(*zip(*pts, strict=True), marker="_", s=200, color=color, zorder=3)
        p50 = [r["scenarios"].get(s, {}).get("p50_ms") or 0 for s in scen]
        p95 = [r["scenarios"].get(s, {}).get("p95_ms") or 0 for s in scen]
        p99 = [r["scenarios"].get(s, {}).get("p99_ms") or 0 for s in scen]
        ax2.bar(off, p50, width, label=f"{r.get('label')} p50", color=color)
        ax2.scatter(off, p95, marker="_", s=120, color="black", zorder=3)
        ax2.scatter(off, p99, marker="v", s=18, color="black", zorder=3)
    for ax in (ax1, ax2):
        ax.set_xticks(xs, scen, rotation=20)
        ax.set_yscale("log")
        ax.grid(axis="y", which="both", alpha=0.3)
    ax1.set_ylabel("successful requests/s (log)")
    ax1.set_title("Throughput (dash: harness ceiling, same plan, trivial endpoint)")
    ax2.set_ylabel("latency ms (log)")
    ax2.set_title("Latency: bar p50, dash p95, triangle p99")
    ax1.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
