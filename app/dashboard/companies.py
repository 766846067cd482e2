"""Companies in the dashboard: the list with each rolled-up profile's company score, and a company's page with
its contacts and what each contributes (``app/companies.py`` computes both)."""
from __future__ import annotations

from flask import render_template, request

from ..companies import company_detail, company_page, live_rollups
from ..errors import NotFound, ValidationError
from ..scoring.companies import company_id
from ..services import get_services
from .blueprint import bp
from .contacts import contact_labels, profile_names
from .defaults import PAGE_SIZE
from .forms import parse_offset

#: Contacts (and contributions per profile) a company's page shows at once.
COMPANY_PAGE = 100


@bp.route("/companies")
def companies():
    """Companies, sorted by a rolled-up profile's company score (the first by default), else by id."""
    services = get_services()
    rollups = live_rollups(services)
    wanted = request.args.get("profile")
    sort = wanted if wanted in rollups else next(iter(sorted(rollups)), None)
    cursor = parse_offset(request.args.get("cursor"))
    try:
        page = company_page(services, PAGE_SIZE, cursor, sort)
    except (ValidationError, NotFound):  # a profile that no longer rolls up: by id
        sort = None
        page = company_page(services, PAGE_SIZE, cursor, None)
    return render_template("dashboard/companies.html", page=page, rollups=rollups, sort=sort, cursor=cursor,
                           page_size=PAGE_SIZE, names=profile_names(services))


@bp.route("/companies/<company>")
def company(company: str):
    services = get_services()
    if company_id(company) != company:
        raise NotFound(f"No company {company!r}.")
    cursor = parse_offset(request.args.get("cursor"))
    detail = company_detail(services, company, COMPANY_PAGE, cursor)
    shown = set(detail["contact_ids"])
    for profile in detail["profiles"].values():
        shown |= {c["contact_id"] for c in profile["contributions"]}
        for row in profile["contributions"]:
            row["shown"] = f"{row['contribution']:g}"  # 20, 6.67
    labels = contact_labels(services, sorted(shown))
    return render_template("dashboard/company.html", company=detail, labels=labels, names=profile_names(services),
                           cursor=cursor, page_size=COMPANY_PAGE)
