"""A vendor's request log in the staff portal: its last REQUEST_LOG_DAYS days of requests, filtered and paged."""

from django import forms
from django.conf import settings
from django.core.paginator import Page, Paginator
from django.core.validators import RegexValidator

from vendors import selectors
from vendors.models import Vendor

PAGE_SIZE = 100
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")


class RequestLogFilterForm(forms.Form):
    """The page's GET filters. Any well-formed value is accepted, not only the ones offered: a bookmarked filter
    whose requests have aged out shows an empty page, not an error."""

    status = forms.CharField(
        required=False,
        validators=[RegexValidator(r"^[1-5](xx|\d\d)$", "Choose a status class (4xx) or a code (404).")],
        widget=forms.Select,
    )
    error = forms.CharField(
        label="Error code",
        required=False,
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9_.-]+$", "An error code has letters, digits, '_', '.' and '-'.")],
        widget=forms.Select,
    )

    def __init__(self, data, *, statuses: list[int], errors: list[str]):
        super().__init__(data)
        status_choices = [*STATUS_CLASSES, *(str(status) for status in statuses)]
        self.fields["status"].widget.choices = [("", "Any status"), *((choice, choice) for choice in status_choices)]
        self.fields["error"].widget.choices = [("", "Any error code"), *((code, code) for code in errors)]

    def statuses(self) -> range | None:
        value = self.cleaned_data["status"]
        if not value:
            return None
        if value.endswith("xx"):
            first = int(value[0]) * 100
            return range(first, first + 100)
        return range(int(value), int(value) + 1)


def page_context(request, vendor: Vendor) -> dict:
    """The template's context: the filter form, the page of entries (None while a filter is malformed) and the
    query string of the filters, for the page links."""
    days = settings.REQUEST_LOG_DAYS
    statuses, errors = selectors.request_log_codes(vendor=vendor, days=days)
    form = RequestLogFilterForm(request.GET, statuses=statuses, errors=errors)
    page: Page | None = None
    if form.is_valid():
        entries = selectors.request_log(
            vendor=vendor, days=days, statuses=form.statuses(), error=form.cleaned_data["error"] or None
        )
        page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    return {"form": form, "page": page, "days": days, "filters": filters.urlencode()}
