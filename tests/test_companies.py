"""Company membership and roll-ups (app/scoring/companies.py): pure, with hand-picked cases."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring.companies import FREE_MAIL_DOMAINS, company_id, company_of, email_domain, roll_up


@pytest.mark.parametrize(("email", "attributes", "expected"), [
    pytest.param("ann@Acme.com", None, "acme.com", id="business-domain"),
    pytest.param("ann@gmail.com", None, None, id="free-mail-makes-none"),
    pytest.param("ann@gmail.com", {"company": "Acme, Inc."}, "acme-inc", id="attribute-names-it"),
    pytest.param("ann@acme.com", {"company": "Globex"}, "globex", id="attribute-wins-over-domain"),
    pytest.param("ann@gmail.com", {"company": " ACME.com "}, "acme.com", id="attribute-holding-a-domain"),
    pytest.param("ann@acme.com", {"company": "  "}, "acme.com", id="blank-attribute-ignored"),
    pytest.param("ann@acme.com", {"company": 42}, "acme.com", id="non-text-attribute-ignored"),
    pytest.param(None, {"company": "Initech"}, "initech", id="no-email"),
    pytest.param("no-at-sign", None, None, id="not-an-address"),
    pytest.param("ann@localhost", None, None, id="domain-without-a-dot"),
    pytest.param("ann@mail.acme.co.uk.", None, "mail.acme.co.uk", id="subdomain-kept-trailing-dot-dropped"),
])
def test_which_company_a_contact_belongs_to(email, attributes, expected):
    assert company_of(email, attributes) == expected


def test_ids_of_names_and_domains():
    assert company_id("Acme, Inc.") == "acme-inc"
    assert company_id("Ben & Jerry's") == "ben-jerry-s"
    assert company_id("acme.io") == "acme.io"
    assert company_id("!!!") is None and company_id(None) is None
    assert email_domain("A@B.Example") == "b.example" and email_domain("") is None


def test_free_mail_domains_are_lower_case_domains():
    assert all(d == d.lower() and "." in d for d in FREE_MAIL_DOMAINS)
    assert {"gmail.com", "outlook.com", "yahoo.com", "icloud.com"} <= FREE_MAIL_DOMAINS


@pytest.mark.parametrize(("how", "scores", "expected"), [
    pytest.param("sum", [10, None, 25, 0], 35, id="sum-of-scored"),
    pytest.param("max", [10, None, 25, 0], 25, id="max"),
    pytest.param("average", [10, None, 25, 0], 12, id="average-of-scored-11.67"),
    pytest.param("average", [1, 2], 2, id="average-half-up"),
    pytest.param("average", [-1, -2], -2, id="average-half-away-from-zero"),
    pytest.param("average", [1, 1, 2], 1, id="average-1.33"),
    pytest.param("sum", [None, None], None, id="nobody-scored"),
    pytest.param("max", [], None, id="no-contacts"),
])
def test_roll_ups(how, scores, expected):
    assert roll_up(how, scores) == expected


def test_an_unknown_roll_up_is_refused():
    with pytest.raises(ValueError, match="one of sum, average, max"):
        roll_up("median", [1])


@given(st.lists(st.integers(min_value=-10**6, max_value=10**6), min_size=1, max_size=50))
def test_the_average_is_the_nearest_whole_point_between_min_and_max(scores):
    average = roll_up("average", scores)
    assert min(scores) <= average <= max(scores)
    assert abs(average - sum(scores) / len(scores)) <= 0.5


def test_the_domain_follows_the_last_at_sign_of_a_quoted_local_part():
    assert email_domain('"sales@home"@acme.com') == "acme.com"


def test_an_upper_case_domain_keeps_every_letter():
    assert email_domain("jo@XBOX.COM") == "xbox.com"
