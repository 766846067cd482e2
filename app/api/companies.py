"""Companies: their contacts and company scores (the profiles that roll up to companies)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ..companies import company_detail, company_page
from ..contact_filter_schema import PROFILE_ID
from ..services import get_services
from .common import v1_blueprint

bp = v1_blueprint("companies", __name__, "Companies and their scores")


class CompanyArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    profile = fields.String(validate=PROFILE_ID, metadata={
        "description": "sort by this profile's company score, highest first (companies without one last); it must "
                       "roll up to companies. Without it, companies come by id"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9),
                            metadata={"description": "next_cursor from the previous page"})


class CompanyPageArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500),
                           metadata={"description": "contacts in the page, and contributions shown per profile"})
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9),
                            metadata={"description": "next_cursor from the previous page of contacts"})


class CompanyScoreSchema(ma.Schema):
    score = fields.Integer()
    rollup = fields.String(metadata={"description": "sum, average or max"})


class CompanySchema(ma.Schema):
    id = fields.String(metadata={"description": "a domain (acme.com) or a name's words joined by - (acme-inc)"})
    contacts = fields.Integer(metadata={"description": "how many contacts it has"})
    scores = fields.Dict(keys=fields.String(), values=fields.Nested(CompanyScoreSchema), metadata={
        "description": "profile id -> its company score, for each live profile that rolls up and scores it"})


class CompanyPageSchema(ma.Schema):
    items = fields.List(fields.Nested(CompanySchema))
    total = fields.Integer()
    next_cursor = fields.Integer(allow_none=True)


class ContributionSchema(ma.Schema):
    contact_id = fields.String()
    score = fields.Integer(metadata={"description": "the contact's score in the profile"})
    contribution = fields.Float(metadata={"description": "what it adds: its score (sum), its share "
                                                          "score / scored contacts (average), or its score when it "
                                                          "is the highest, else 0 (max)"})


class RolledProfileSchema(ma.Schema):
    rollup = fields.String()
    score = fields.Integer(allow_none=True)
    scored_contacts = fields.Integer()
    contributions = fields.List(fields.Nested(ContributionSchema),
                                metadata={"description": "the `limit` highest scores, highest first"})


class CompanyDetailSchema(ma.Schema):
    id = fields.String()
    contacts = fields.Integer()
    contact_ids = fields.List(fields.String(), metadata={"description": "a page of the company's contacts, by id"})
    next_cursor = fields.Integer(allow_none=True, metadata={"description": "the cursor of the next page of contacts"})
    profiles = fields.Dict(keys=fields.String(), values=fields.Nested(RolledProfileSchema),
                           metadata={"description": "per live profile that rolls up to companies"})


@bp.route("/companies", methods=["GET"])
@bp.arguments(CompanyArgsSchema, location="query", as_kwargs=True)
@bp.response(200, CompanyPageSchema)
def list_companies(limit: int = 50, cursor: int = 0, profile: str | None = None):
    """Companies with their contact count and company scores, a page at a time."""
    return company_page(get_services(), limit, cursor, profile)


@bp.route("/companies/<company:company_id>", methods=["GET"])
@bp.arguments(CompanyPageArgsSchema, location="query", as_kwargs=True)
@bp.response(200, CompanyDetailSchema)
def read_company(company_id: str, limit: int = 100, cursor: int = 0):
    """A company: a page of its contacts, and per rolled-up profile its score and what its highest-scored
    contacts contribute."""
    return company_detail(get_services(), company_id, limit, cursor)
