"""The vendor page's usage chart: one bar per day, laid out here so that the template only places them."""

from dataclasses import dataclass
from datetime import date

from django.utils.formats import date_format

USAGE_DAYS = 30


@dataclass(frozen=True)
class UsageBar:
    day: date
    requests: int
    title: str
    # SVG user units, rounded: the template only places them.
    x: float
    y: float
    width: float
    height: float
    slot_x: float
    slot_width: float


@dataclass(frozen=True)
class UsageChart:
    bars: list[UsageBar]
    total: int
    total_label: str
    peak_label: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    first_label: str
    last_label: str

    @property
    def plot_height(self) -> float:
        return self.bottom - self.top

    @property
    def value_label_x(self) -> float:
        return self.left - 6


def usage_chart(series: list[tuple[date, int]], *, width: int = 640, height: int = 180) -> UsageChart:
    """Lay out one bar per day of `series` (oldest first) in a `width` x `height` SVG, scaled to the busiest day."""
    total = sum(count for _, count in series)
    peak = max((count for _, count in series), default=0)
    # Room on the left for the peak's label (about 7 units a character at the chart's font size).
    left, right, top, bottom = 10 + 7 * len(f"{peak:,}"), width - 6, 10, height - 24
    slot = (right - left) / max(len(series), 1)
    bars = []
    for index, (day, count) in enumerate(series):
        # A day with any request keeps at least one unit of height, so that it never looks like an idle day.
        bar_height = max((bottom - top) * count / peak, 1) if count else 0
        when = date_format(day, "D j M Y")
        today = " (today, so far)" if index == len(series) - 1 else ""
        noun = "request" if count == 1 else "requests"
        bars.append(
            UsageBar(
                day=day,
                requests=count,
                title=f"{when}: {count:,} {noun}{today}",
                x=round(left + index * slot + slot * 0.15, 1),
                y=round(bottom - bar_height, 1),
                width=round(slot * 0.7, 1),
                height=round(bar_height, 1),
                slot_x=round(left + index * slot, 1),
                slot_width=round(slot, 1),
            )
        )
    return UsageChart(
        bars=bars,
        total=total,
        total_label=f"{total:,}",
        peak_label=f"{peak:,}",
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        first_label=date_format(series[0][0], "j M") if series else "",
        last_label=date_format(series[-1][0], "j M") if series else "",
    )
