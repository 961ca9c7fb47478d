"""Pages that belong to no one journey."""

from datetime import date

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import formats
from django.utils.translation import get_language_bidi, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from hashbank import selectors
from hashbank import transparency as figures
from portal import charts


def home(request: HttpRequest) -> HttpResponse:
    # The start page of the survivor journey: what the service does and does not do, who
    # takes part, and how privacy works.
    return render(request, "portal/home.html", {"partners": selectors.partners_public_list()})


def favicon(request: HttpRequest) -> HttpResponse:
    # Browsers ask for /favicon.ico on their own (downloads, some navigations); a 404 there is a
    # console error on every page. The icon itself is a neutral static file.
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


@require_safe
def transparency(request: HttpRequest) -> HttpResponse:
    # Public figures, month by month (docs/transparency.md). Only published cells reach the
    # template: hashbank.transparency has already turned every count under 10 into "fewer than 10".
    published = figures.transparency_public()
    return render(request, "portal/transparency.html", _transparency_context(published, rtl=get_language_bidi()))


@require_safe
def transparency_json(request: HttpRequest) -> HttpResponse:
    # The same figures for machines. Public, the same for everyone and changing slowly: caches
    # may keep it five minutes.
    response = JsonResponse(figures.transparency_public().as_json(), json_dumps_params={"indent": 2})
    response["Cache-Control"] = "public, max-age=300"
    return response


# --- The transparency page's presentation ---------------------------------------------------

#: (figure, chart kind, chart title): the titles are the page's section headings.
_CHARTS = (
    ("cases_opened", "bar", gettext_lazy("Cases opened")),
    ("fingerprints_added", "bar", gettext_lazy("Fingerprints received")),
    ("active_fingerprints", "line", gettext_lazy("Fingerprints shared with partners")),
    ("withdrawals", "bar", gettext_lazy("Withdrawals")),
    ("partners_active", "bar", gettext_lazy("Partner platforms")),
    ("median_minutes_to_first_fetch", "line", gettext_lazy("Time until a partner first had a fingerprint")),
    ("matches_reported", "bar", gettext_lazy("Matches reported by partners")),
    ("holds", "bar", gettext_lazy("Fingerprints held for review")),
)


def _display(cell: figures.Cell) -> str:
    """A published cell in the reader's language. Only an exact cell has a number to show."""
    if cell.kind == figures.EXACT:
        if isinstance(cell.value, float):
            return formats.number_format(cell.value, decimal_pos=1, use_l10n=True)
        return formats.number_format(cell.value, use_l10n=True, force_grouping=True)
    if cell.kind == figures.FEWER:
        return _("fewer than 10")
    if cell.kind == figures.AT_LEAST:
        return _("at least %(count)s") % {"count": formats.number_format(cell.bound, force_grouping=True)}
    return _("not shown: fewer than 10 fingerprints")


def _tick(value: float) -> str:
    if float(value).is_integer():
        return formats.number_format(int(value), use_l10n=True, force_grouping=True)
    return formats.number_format(value, decimal_pos=1, use_l10n=True)


def _month_name(month: date) -> str:
    return formats.date_format(month, "YEAR_MONTH_FORMAT")


def _transparency_context(published: figures.Published, *, rtl: bool) -> dict[str, object]:
    rows = [
        {"month": m.month.strftime("%Y-%m"), "label": _month_name(m.month), "partial": m.partial,
         **{name: _display(cell) for name, cell in m.cells.items()}}
        for m in published.months
    ]
    descriptions = {
        "bar": _("A bar for each month, oldest first. A dashed bar means fewer than 10. "
                 "The table after the chart gives every figure."),
        "line": _("A line through the months, oldest first. A dashed mark means fewer than 10; "
                  "a gap means the figure is not shown. The table after the chart gives every figure."),
    }
    chart_markup = {}
    for name, kind, title in _CHARTS:
        points = [
            charts.Point(
                label=formats.date_format(m.month, "M Y"),
                tooltip=f"{_month_name(m.month)}: {_display(m.cells[name])}",
                value=m.cells[name].value,
                below=m.cells[name].bound if m.cells[name].kind == figures.FEWER else None,
            )
            for m in published.months
        ]
        draw = charts.bar_chart if kind == "bar" else charts.line_chart
        chart_markup[name] = draw(chart_id=f"chart-{name.replace('_', '-')}", title=str(title),
                                  description=descriptions[kind], points=points, rtl=rtl, number=_tick)

    def breakdown(cells: dict[str, figures.Cell] | None) -> dict[str, str] | None:
        return None if cells is None else {key: _display(cell) for key, cell in cells.items()}

    return {
        "rows": rows,
        "charts": chart_markup,
        "totals": {name: _display(cell) for name, cell in published.totals.items()},
        "first_month": _month_name(published.months[0].month),
        "last_month": _month_name(published.months[-1].month),
        "holds_by_cause": breakdown(published.holds_by_cause),
        "hold_outcomes": breakdown(published.hold_outcomes),
    }
