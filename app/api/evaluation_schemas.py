"""The evaluation's request and its report, as the API reads and writes them (app/evaluation.py)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates

from ..edge_fields import whole_number
from ..evaluation import JUDGED
from ..interaction_schema import InteractionType, Timestamp
from ..scoring.evaluation import DEFAULT_OUTCOME
from .schemas import Strict

#: The longest period an evaluation covers, in days (ten years).
MAX_DAYS = 3650


class EvaluationRequestSchema(Strict):
    from_ = Timestamp(data_key="from", attribute="from", required=True,
                      metadata={"description": "the period's start: scores are taken as of this moment"})
    days = whole_number(1, MAX_DAYS, load_default=30,
                        metadata={"description": "the period's length in days (default 30): conversions are "
                                                 "counted from 'from' up to 'from' + days (or now, if earlier)"})
    outcome = InteractionType(load_default=DEFAULT_OUTCOME,
                              metadata={"description": f"the interaction type that marks conversion (default "
                                                       f"{DEFAULT_OUTCOME})"})
    of = fields.List(fields.String(validate=validate.OneOf(JUDGED)), validate=validate.Length(min=1, max=2),
                     metadata={"uniqueItems": True,
                               "description": "what to judge: 'live', 'draft', or both side by side (a backtest "
                                              "of the draft); default: the live version, else the draft"})

    @validates("of")
    def unique(self, value, **_):
        if len(set(value)) != len(value):
            raise ValidationError("'live' and 'draft' may each appear once")


class CohortSchema(ma.Schema):
    contacts = fields.Integer()
    conversions = fields.Integer()
    rate = fields.Float(allow_none=True, metadata={"description": "conversions / contacts (null: no contacts)"})
    lift = fields.Float(allow_none=True, metadata={"description": "rate / the population's base rate (null when "
                                                                  "either is missing or the base rate is 0)"})


class BandRowSchema(CohortSchema):
    band = fields.String(metadata={"description": "the band's name, or 'no band' (below every band)"})
    min = fields.Integer(allow_none=True)


class DecileRowSchema(CohortSchema):
    decile = fields.Integer(metadata={"description": "1 = the highest scores; tied scores share a decile"})
    min_score = fields.Integer(allow_none=True)
    max_score = fields.Integer(allow_none=True)
    cumulative_share = fields.Float(allow_none=True,
                                    metadata={"description": "share of all conversions in this decile and those "
                                                             "above it"})


class SuggestionSchema(ma.Schema):
    points = fields.Integer(allow_none=True, metadata={"description": "suggested points (null: too little "
                                                                      "evidence, see reason)"})
    log_odds_ratio = fields.Float(allow_none=True)
    interval = fields.List(fields.Float(), allow_none=True,
                           metadata={"description": "95 % interval of the log odds ratio", "minItems": 2,
                                     "maxItems": 2})
    significant = fields.Boolean(metadata={"description": "the interval excludes 0"})
    reason = fields.String(allow_none=True, metadata={"description": "why there is no suggestion"})


class RuleRowSchema(ma.Schema):
    rule_id = fields.String()
    points = fields.Integer(metadata={"description": "the rule's points in the judged definition"})
    matched = fields.Nested(CohortSchema, metadata={"description": "contacts an interaction of whom met the rule "
                                                                   "before the period"})
    unmatched = fields.Nested(CohortSchema)
    lift = fields.Float(allow_none=True, metadata={"description": "matched rate / unmatched rate"})
    suggestion = fields.Nested(SuggestionSchema)


class ExcludedSchema(ma.Schema):
    converted_before = fields.Integer(metadata={"description": "contacts with an outcome before the period"})
    no_history = fields.Integer(metadata={"description": "contacts without an interaction before the period"})


class ReportSchema(ma.Schema):
    of = fields.String(metadata={"description": "live or draft"})
    version = fields.Integer(allow_none=True, metadata={"description": "the live version judged (null: the draft)"})
    contacts = fields.Integer(metadata={"description": "the population: contacts scored as of the start"})
    conversions = fields.Integer()
    base_rate = fields.Float(allow_none=True)
    excluded = fields.Nested(ExcludedSchema)
    bands = fields.List(fields.Nested(BandRowSchema))
    deciles = fields.List(fields.Nested(DecileRowSchema))
    rules = fields.List(fields.Nested(RuleRowSchema))


class JudgedSchema(ma.Schema):
    of = fields.String()
    version = fields.Integer(allow_none=True)


class EvaluationSchema(ma.Schema):
    id = fields.String(metadata={"description": "the evaluation's id, also its job's (GET /v1/jobs/{id})"})
    profile = fields.String()
    actor = fields.String()
    status = fields.String(metadata={"description": "queued, running, finished or failed"})
    progress = fields.Float()
    error = fields.String(allow_none=True)
    requested_at = fields.String(metadata={"description": "RFC 3339"})
    from_ = fields.String(data_key="from", attribute="from", metadata={"description": "RFC 3339"})
    to = fields.String(metadata={"description": "RFC 3339: 'from' + days"})
    days = fields.Integer()
    observed_until = fields.String(metadata={"description": "RFC 3339: the end of the period, or the moment of "
                                                            "the request if that came first"})
    outcome = fields.String()
    judged = fields.List(fields.Nested(JudgedSchema))
    reports = fields.List(fields.Nested(ReportSchema), allow_none=True,
                          metadata={"description": "one per judged definition, once finished (null before)"})


class EvaluationListSchema(ma.Schema):
    items = fields.List(fields.Nested(EvaluationSchema), metadata={"description": "newest first"})
