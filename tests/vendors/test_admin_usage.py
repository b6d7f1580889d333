"""Usage in the staff portal: the vendor list's 30-day totals and the vendor page's chart of requests per day."""

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from vendors.admin.vendor import usage_chart
from vendors.models import UsageDay

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/vendors/vendor/"
TITLE = re.compile(r'<g class="charp-usage-day">\s*<title>([^<]*)</title>')
BAR = re.compile(r'<rect class="charp-usage-bar" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/>')


def today() -> date:
    return datetime.now(UTC).date()


def seed(vendor, *days_ago_and_requests: tuple[int, int]) -> None:
    for days_ago, requests in days_ago_and_requests:
        UsageDay.objects.create(vendor=vendor, date=today() - timedelta(days=days_ago), requests=requests, throttled=3)


def requests_cell(body: str, name: str) -> str:
    """The text of the "Requests (30 days)" cell in the list row of the vendor called `name`."""
    row = next(row for row in body.split("<tr")[1:] if f">{name}</a>" in row)
    return re.search(r'<td class="field-recent_requests_display">(.*?)</td>', row).group(1)


def page(client, url: str = LIST_URL) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return unescape(response.content.decode())


def change_url(vendor) -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/change/"


# --- The list -----------------------------------------------------------------------------------------------------


def test_the_list_shows_each_vendors_requests_of_the_last_30_days(manager_client, make_vendor):
    globex = make_vendor("standard", name="Globex").vendor
    initech = make_vendor("enterprise", name="Initech").vendor
    make_vendor("free", name="Idle Co")
    seed(globex, (0, 40), (2, 7), (29, 3), (30, 999), (400, 5000))  # the last two are older than 30 days
    seed(initech, (1, 1_234_000), (5, 567))

    response = manager_client.get(LIST_URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Requests (30 days)" in body
    assert requests_cell(body, "Globex") == "50"
    assert requests_cell(body, "Initech") == "1,234,567"
    assert requests_cell(body, "Idle Co") == "0"


def test_the_list_sorts_by_requests_of_the_last_30_days(manager_client, make_vendor):
    quiet, busy, idle = (make_vendor("free", name=name).vendor for name in ("Quiet", "Busy", "Idle"))
    seed(quiet, (3, 10))
    seed(busy, (0, 500), (45, 100_000))  # the old day must not count
    seed(idle, (31, 1_000_000))

    header = re.search(
        r'class="sortable column-recent_requests_display">.*?<a href="\?o=(\d+)', page(manager_client), re.S
    )
    column = header.group(1)
    ascending = manager_client.get(f"{LIST_URL}?o={column}").context["cl"].result_list
    descending = manager_client.get(f"{LIST_URL}?o=-{column}").context["cl"].result_list

    assert [vendor.name for vendor in ascending] == ["Idle", "Quiet", "Busy"]
    assert [vendor.name for vendor in descending] == ["Busy", "Quiet", "Idle"]
    assert [vendor.recent_requests for vendor in descending] == [500, 10, 0]


def test_the_lists_query_count_does_not_grow_with_the_number_of_vendors(manager_client, make_vendor):
    def list_queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(LIST_URL).status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    for index in range(2):
        seed(make_vendor("standard", name=f"Vendor {index}").vendor, (0, 10), (1, 20))
    manager_client.get(LIST_URL)  # the first request of a session may load more (session, permissions cache)
    with_two = list_queries()
    for index in range(2, 6):
        seed(make_vendor("enterprise", name=f"Vendor {index}").vendor, (0, 10), (1, 20))
    with_six = list_queries()

    assert len(with_six) == len(with_two)
    usage_queries = [sql for sql in with_six if "vendors_usageday" in sql]
    assert len(usage_queries) == 1 == len([sql for sql in with_two if "vendors_usageday" in sql])
    assert len(with_six) <= 10, "\n".join(with_six)


# --- The vendor page ----------------------------------------------------------------------------------------------


def test_the_vendor_page_charts_one_bar_per_day_with_the_30_day_total(manager_client, make_vendor):
    vendor = make_vendor("standard", name="Globex").vendor
    other = make_vendor("standard", name="Initech").vendor
    seed(vendor, (0, 40), (2, 7), (29, 1), (30, 999))
    seed(other, (0, 5000))

    response = manager_client.get(change_url(vendor))

    assert response.status_code == 200
    body = unescape(response.content.decode())
    bars = BAR.findall(body)
    assert len(bars) == 30
    assert len(TITLE.findall(body)) == 30
    heights = [float(height) for *_, height in bars]
    assert heights[-1] == max(heights) > heights[-3] > heights[0] > 0  # today 40, two days ago 7, 29 days ago 1
    assert heights.count(0) == 27
    assert '<strong class="charp-usage-total">48</strong> requests in the last 30 days' in body
    first, last = today() - timedelta(days=29), today()
    assert f">{first.day} {first:%b}</text>" in body and f">{last.day} {last:%b}</text>" in body
    assert '<text class="charp-usage-label charp-usage-max"' in body and ">40</text>" in body
    assert f"<title>{last:%a} {last.day} {last:%b %Y}: 40 requests (today, so far)</title>" in body
    yesterday = last - timedelta(days=1)
    assert f"<title>{yesterday:%a} {yesterday.day} {yesterday:%b %Y}: 0 requests</title>" in body
    assert "5,000" not in body and "1,048" not in body


def test_the_vendor_page_says_no_requests_yet_when_there_are_none(manager_client, make_vendor):
    vendor = make_vendor("free", name="Idle Co").vendor
    seed(vendor, (31, 100))  # older than the chart

    body = manager_client.get(change_url(vendor)).content.decode()

    assert "No requests yet in the last 30 days." in body
    assert 'class="charp-usage-bar"' not in body and '<svg class="charp-usage-chart"' not in body


def test_a_viewer_sees_the_usage_chart_too(viewer_client, make_vendor):
    vendor = make_vendor("free", name="Globex").vendor
    seed(vendor, (0, 3))

    body = viewer_client.get(change_url(vendor)).content.decode()

    assert len(BAR.findall(body)) == 30
    assert '<strong class="charp-usage-total">3</strong>' in body


# --- The chart's geometry -----------------------------------------------------------------------------------------


def test_the_chart_scales_bars_to_the_busiest_day_and_keeps_small_days_visible():
    start = date(2025, 6, 1)
    series = [(start + timedelta(days=offset), count) for offset, count in enumerate([0, 1, 50_000, 100_000])]

    chart = usage_chart(series, width=400, height=100)

    assert [bar.requests for bar in chart.bars] == [0, 1, 50_000, 100_000]
    assert [bar.height for bar in chart.bars] == [0, 1, chart.plot_height / 2, chart.plot_height]
    for bar in chart.bars:
        assert bar.y + bar.height == chart.bottom
        assert chart.left <= bar.slot_x <= bar.x < bar.x + bar.width <= bar.slot_x + bar.slot_width <= chart.right
    assert [bar.x for bar in chart.bars] == sorted(bar.x for bar in chart.bars)
    assert (chart.total_label, chart.peak_label) == ("150,001", "100,000")
    assert (chart.first_label, chart.last_label) == ("1 Jun", "4 Jun")
    assert chart.bars[1].title == "Mon 2 Jun 2025: 1 request"
    assert chart.bars[3].title == "Wed 4 Jun 2025: 100,000 requests (today, so far)"
    assert chart.left > 7 * len("100,000")  # room for the peak's label
