"""The cumulative-cost chart of `aistack cost --plot`: self-hosted (CAPEX, then OPEX) against the
cloud bill, month by month, with the break-even month marked."""

from __future__ import annotations

import math
from pathlib import Path

from aistack.cost.tco import Report, cumulative
from aistack.registry import MissingDependency


def plot(report: Report, months: int, out: Path) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependency("the chart needs matplotlib: pip install matplotlib") from None
    points = cumulative(report.self_hosted, report.cloud, months)
    x = [m for m, _, _ in points]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax.plot(x, [s for _, s, _ in points], label=f"self-hosted (EUR {report.self_hosted.monthly_opex:,.0f}/month "
            f"+ EUR {report.self_hosted.capex_hardware:,.0f} CAPEX)", color="#2b6cb0", linewidth=2)
    ax.plot(x, [c for _, _, c in points], label=f"cloud API (EUR {report.cloud.monthly_tco:,.0f}/month)",
            color="#c05621", linewidth=2)
    if report.cloud.stated_monthly_llm is not None:  # the bill the token prices give, beside the stated one
        priced = report.cloud.monthly_llm_cost + report.cloud.monthly_fixed
        ax.plot(x, [m * priced for m in x], label=f"cloud API at its token prices (EUR {priced:,.0f}/month)",
                color="#c05621", linewidth=1.5, linestyle=":")
    if not math.isinf(report.break_even_months) and report.break_even_months <= months:
        ax.axvline(report.break_even_months, color="grey", linestyle="--", linewidth=1)
        ax.text(report.break_even_months, 0.97, f" break-even: {report.break_even_months:.1f} months",
                transform=ax.get_xaxis_transform(), va="top", color="grey")
    ax.set_xlabel("months")
    ax.set_ylabel("cumulative cost (EUR)")
    ax.set_title(f"{report.cloud.daily_tokens:,.0f} tokens/day")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
