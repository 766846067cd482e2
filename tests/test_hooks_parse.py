"""Each provider's ``parse`` as a pure function: documented payloads become core interactions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ValidationError
from app.hooks import (
    calcom,
    calendly,
    mailgun,
    postmark,
    registry,
    results,
    sendgrid,
    standard,
    stripe,
    tally,
    typeform,
)
from app.interaction_schema import Moment
from app.scoring.records import PROPERTY_CODES
from app.scoring.interactions import check_timestamp_ms

from .hook_builders import (
    DOCUMENTED_TYPE,
    calcom_booking,
    calendly_invitee_created,
    documented_delivery,
    mailgun_event,
    postmark_bounce,
    postmark_open,
    sendgrid_events,
    standard_interaction,
    stripe_charge,
    stripe_event,
    stripe_invoice,
    stripe_payment_intent,
    tally_response,
    typeform_response,
    unknown_delivery,
)

PROVIDERS = [pytest.param(p, id=p) for p in DOCUMENTED_TYPE]


def module(provider: str):
    return registry.STANDARD.module if provider == "standard" else registry.lookup(provider).module


def only(result):
    assert len(result.interactions) == 1, (result.interactions, result.skipped)
    return result.interactions[0]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_documented_payload_parses(provider):
    source = "crm" if provider == "standard" else provider
    interaction = only(module(provider).parse(documented_delivery(provider, "Ann@Example.com"), source))
    assert interaction.type == DOCUMENTED_TYPE[provider]
    assert interaction.email == "ann@example.com"
    assert interaction.source == source
    assert interaction.key.startswith(f"{source}:")


def test_every_property_name_a_receiver_writes_is_stored_as_a_small_integer():
    """A copy Redis keeps of an archived interaction lists the names it left out as their index in
    ``PROPERTY_CODES``: a receiver's name listed as text can make a trimmed copy too long for the contact's compact
    hash (a Stripe payment's ``stripe_type`` and ``livemode`` did: row 5c)."""
    results = [module(p).parse(documented_delivery(p), p) for p in DOCUMENTED_TYPE if p != "standard"]
    results += [postmark.parse(payload) for payload in (postmark_open(), postmark_bounce(), {
        "RecordType": "SubscriptionChange", "Recipient": "a@example.com", "MessageID": "m",
        "ChangedAt": "2020-02-01T10:53:34.416071Z", "SuppressSending": True,
        "SuppressionReason": "ManualSuppression", "Origin": "Recipient", "Tag": "welcome", "MessageStream": "outbound"})]
    results += [stripe.parse(stripe_event(kind, obj)) for kind, obj in (
        ("payment_intent.succeeded", stripe_payment_intent()), ("charge.succeeded", stripe_charge()),
        ("invoice.paid", stripe_invoice()), ("charge.refunded", stripe_charge()))]
    results += [sendgrid.parse(sendgrid_events()), mailgun.parse({"signature": {"token": "t"}, **mailgun_event()})]
    names = {name for result in results for interaction in result.interactions for name in interaction.properties}
    assert {"stripe_type", "livemode", "first_open", "message_id", "amount"} <= names
    assert names - set(PROPERTY_CODES) == set()


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p.values[0] != "standard"])
def test_an_unknown_event_type_is_skipped_with_a_reason(provider):
    result = module(provider).parse(unknown_delivery(provider), provider)
    assert result.interactions == []
    assert [s.reason for s in result.skipped] and all(s.reason for s in result.skipped)


@pytest.mark.parametrize(
    "provider,payload",
    [
        pytest.param("sendgrid", {"event": "open"}, id="sendgrid-not-an-array"),
        pytest.param("sendgrid", [{"event": "open", "timestamp": 1}], id="sendgrid-no-event-id"),
        pytest.param(
            "sendgrid", [{"event": "open", "sg_event_id": "x", "timestamp": "soon"}], id="sendgrid-bad-time"
        ),
        pytest.param("mailgun", {"signature": {"token": "t"}}, id="mailgun-no-event-data"),
        pytest.param("postmark", [postmark_open()], id="postmark-array"),
        pytest.param("postmark", {"RecordType": "Open", "MessageID": "m"}, id="postmark-open-without-time"),
        pytest.param("calendly", {"event": "invitee.created"}, id="calendly-no-payload"),
        pytest.param("calcom", {"triggerEvent": "BOOKING_CREATED", "payload": {}}, id="calcom-no-created-at"),
        pytest.param("typeform", {"event_type": "form_response"}, id="typeform-no-event-id"),
        pytest.param("tally", {"eventId": "x", "eventType": "FORM_RESPONSE"}, id="tally-no-data"),
        pytest.param(
            "stripe", {"id": "evt_1", "type": "charge.succeeded", "data": {}}, id="stripe-no-object"
        ),
        pytest.param(
            "standard",
            {"id": "x", "type": "email.nope", "contact": {"email": "a@b.c"}},
            id="standard-bad-type",
        ),
        pytest.param("standard", "hello", id="standard-not-an-object"),
    ],
)
def test_a_malformed_payload_is_a_validation_error(provider, payload):
    with pytest.raises(ValidationError):
        module(provider).parse(payload, provider)


@pytest.mark.parametrize(
    "provider,payload",
    [
        pytest.param("sendgrid", sendgrid_events(email="")[:1], id="sendgrid"),
        pytest.param("mailgun", mailgun_event(recipient=None), id="mailgun"),
        pytest.param("typeform", typeform_response(answers=[]), id="typeform"),
        pytest.param("tally", tally_response(fields=[]), id="tally"),
        pytest.param(
            "stripe", stripe_event("payment_intent.succeeded", stripe_payment_intent(email=None)), id="stripe"
        ),
        pytest.param("calendly", calendly_invitee_created(email="not an email"), id="calendly-invalid-email"),
    ],
)
def test_an_event_without_a_usable_contact_is_skipped(provider, payload):
    result = module(provider).parse(payload, provider)
    assert result.interactions == [] and result.awaiting == []
    assert "contact" in result.skipped[0].reason


# --- SendGrid -----------------------------------------------------------------------------------
def test_sendgrid_maps_opens_and_clicks_keyed_on_sg_event_id():
    result = sendgrid.parse(sendgrid_events(), "sendgrid")
    opened, clicked = result.interactions
    assert (opened.type, opened.id) == ("email.opened", "FOTFFO0ecsBE-zxFXfs6WA==")
    assert opened.properties == {
        "message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "category": "cat facts",
        "machine_open": False,
    }
    assert opened.occurred_at == 1513299569000
    assert (clicked.type, clicked.properties["url"]) == ("email.clicked", "http://www.sendgrid.com/")


def test_sendgrid_flags_machine_opens():
    assert only(sendgrid.parse(sendgrid_events(sg_machine_open=True)[:1])).properties["machine_open"] is True


@pytest.mark.parametrize(
    "event,changes,type_,properties",
    [
        pytest.param("delivered", {}, "email.delivered", {}, id="delivered"),
        pytest.param(
            "bounce",
            {"type": "bounce", "reason": "550 5.1.1"},
            "email.bounced",
            {"blocked": False, "reason": "550 5.1.1"},
            id="bounce",
        ),
        pytest.param("bounce", {"type": "blocked"}, "email.bounced", {"blocked": True}, id="blocked"),
        pytest.param("unsubscribe", {}, "email.unsubscribed", {}, id="unsubscribe"),
        pytest.param(
            "group_unsubscribe",
            {"asm_group_id": 10},
            "email.unsubscribed",
            {"group_id": 10},
            id="group-unsubscribe",
        ),
        pytest.param("spamreport", {}, "email.spam_reported", {}, id="spamreport"),
    ],
)
def test_sendgrid_event_types(event, changes, type_, properties):
    payload = [
        {
            "email": "a@example.com",
            "timestamp": 1513299569,
            "event": event,
            "sg_event_id": "e1",
            "sg_message_id": "m1",
            **changes,
        }
    ]
    interaction = only(sendgrid.parse(payload))
    assert interaction.type == type_
    assert properties.items() <= interaction.properties.items()


@pytest.mark.parametrize("event", ["processed", "dropped", "deferred"])
def test_sendgrid_skips_events_it_does_not_score(event):
    result = sendgrid.parse([{"email": "a@example.com", "timestamp": 1, "event": event, "sg_event_id": "e"}])
    assert result.interactions == [] and len(result.skipped) == 1


# --- Mailgun ------------------------------------------------------------------------------------
def test_mailgun_maps_the_documented_open():
    result = mailgun.parse({"signature": {"token": "tok"}, **mailgun_event()}, "mailgun")
    interaction = only(result)
    assert (interaction.id, interaction.email) == ("Ase7i2zsRYeDXztHGENqRA", "alice@example.com")
    assert interaction.properties["message_id"] == "20130503182626.18666.16540@sandbox.mailgun.org"
    assert interaction.occurred_at == 1521243339873
    assert result.replay_token == "tok"


@pytest.mark.parametrize(
    "changes,type_",
    [
        pytest.param({"event": "clicked", "url": "https://example.com"}, "email.clicked", id="clicked"),
        pytest.param({"event": "delivered"}, "email.delivered", id="delivered"),
        pytest.param(
            {"event": "failed", "severity": "permanent", "reason": "bounce"}, "email.bounced", id="failed"
        ),
        pytest.param({"event": "unsubscribed"}, "email.unsubscribed", id="unsubscribed"),
        pytest.param({"event": "complained"}, "email.spam_reported", id="complained"),
    ],
)
def test_mailgun_event_types(changes, type_):
    assert only(mailgun.parse({"signature": {"token": "t"}, **mailgun_event(**changes)})).type == type_


def test_mailgun_skips_temporary_failures():
    result = mailgun.parse(
        {"signature": {"token": "t"}, **mailgun_event(event="failed", severity="temporary")}
    )
    assert result.interactions == [] and "temporary" in result.skipped[0].reason


# --- Postmark -----------------------------------------------------------------------------------
def test_postmark_open_gets_a_stable_id_from_message_recipient_and_time():
    first = only(postmark.parse(postmark_open()))
    again = only(postmark.parse(postmark_open()))
    later = only(postmark.parse(postmark_open(ReceivedAt="2019-11-05T17:00:00Z")))
    assert first.id == again.id != later.id
    assert first.properties["first_open"] is True and first.properties["tag"] == "welcome-email"


def test_postmark_bounce_is_keyed_on_its_id_and_contact_is_email():
    interaction = only(postmark.parse(postmark_bounce()))
    assert (interaction.type, interaction.id, interaction.email) == (
        "email.bounced",
        "bounce:4323372036854775807",
        "john@example.com",
    )
    assert interaction.properties["permanent"] is True


@pytest.mark.parametrize(
    "record,type_",
    [
        pytest.param(
            {
                "RecordType": "Click",
                "Recipient": "a@example.com",
                "MessageID": "m",
                "ReceivedAt": "2017-10-25T15:21:11Z",
                "OriginalLink": "https://example.com",
            },
            "email.clicked",
            id="click",
        ),
        pytest.param(
            {
                "RecordType": "Delivery",
                "Recipient": "a@example.com",
                "MessageID": "m",
                "DeliveredAt": "2014-08-01T13:28:10.2735393-04:00",
            },
            "email.delivered",
            id="delivery",
        ),
        pytest.param(
            {
                "RecordType": "SpamComplaint",
                "ID": 42,
                "Email": "a@example.com",
                "MessageID": "m",
                "BouncedAt": "2019-11-05T16:33:54.9070259Z",
            },
            "email.spam_reported",
            id="spam-complaint",
        ),
        pytest.param(
            {
                "RecordType": "SubscriptionChange",
                "Recipient": "a@example.com",
                "MessageID": "m",
                "ChangedAt": "2020-02-01T10:53:34.416071Z",
                "SuppressSending": True,
                "SuppressionReason": "ManualSuppression",
                "Origin": "Recipient",
            },
            "email.unsubscribed",
            id="suppressed",
        ),
    ],
)
def test_postmark_record_types(record, type_):
    assert only(postmark.parse(record)).type == type_


def test_postmark_skips_a_lifted_suppression():
    record = {
        "RecordType": "SubscriptionChange",
        "Recipient": "a@example.com",
        "MessageID": "m",
        "ChangedAt": "2020-02-01T10:53:34.416071Z",
        "SuppressSending": False,
    }
    assert postmark.parse(record).interactions == []


# --- Calendly -----------------------------------------------------------------------------------
def test_calendly_booking_keyed_on_event_and_invitee_uri():
    interaction = only(calendly.parse(calendly_invitee_created()))
    assert interaction.id == (
        "invitee.created:https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA"
    )
    assert interaction.properties["start_time"] == "2019-08-24T14:15:22.123456Z"
    assert interaction.properties["event_name"] == "15 Minute Meeting"


def test_calendly_a_new_invitee_replacing_an_old_one_is_a_reschedule():
    payload = calendly_invitee_created(old_invitee="https://api.calendly.com/scheduled_events/X/invitees/OLD")
    assert only(calendly.parse(payload)).type == "appointment.rescheduled"


def test_calendly_cancellation_is_scored_unless_it_is_a_reschedule():
    cancelled = {
        **calendly_invitee_created(
            status="canceled",
            canceled=True,
            cancellation={"canceled_by": "John", "reason": "busy", "canceler_type": "invitee"},
        ),
        "event": "invitee.canceled",
    }
    assert only(calendly.parse(cancelled)).type == "appointment.cancelled"
    rescheduled = {**calendly_invitee_created(rescheduled=True), "event": "invitee.canceled"}
    assert calendly.parse(rescheduled).interactions == []


def test_calendly_no_show():
    payload = {
        **calendly_invitee_created(
            no_show={
                "uri": "https://api.calendly.com/invitee_no_shows/N",
                "created_at": "2020-11-23T18:00:00.000000Z",
            }
        ),
        "event": "invitee_no_show.created",
    }
    assert only(calendly.parse(payload)).type == "appointment.no_show"


# --- Cal.com ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "trigger,type_",
    [
        pytest.param("BOOKING_CREATED", "appointment.booked", id="created"),
        pytest.param("BOOKING_CANCELLED", "appointment.cancelled", id="cancelled"),
        pytest.param("BOOKING_RESCHEDULED", "appointment.rescheduled", id="rescheduled"),
    ],
)
def test_calcom_booking_triggers(trigger, type_):
    interaction = only(calcom.parse(calcom_booking(trigger=trigger)))
    assert interaction.type == type_
    assert interaction.id == f"{trigger}:bFJeNb2uX8ANpT3JL5EfXw:attendee@example.com"
    assert interaction.properties["start_time"] == "2023-05-25T09:30:00Z"


def test_calcom_every_attendee_is_a_contact():
    payload = calcom_booking()
    payload["payload"]["attendees"].append({"email": "second@example.com", "name": "Second"})
    assert [i.email for i in calcom.parse(payload).interactions] == [
        "attendee@example.com",
        "second@example.com",
    ]


def test_calcom_no_show_scores_only_attendees_marked():
    payload = {
        "triggerEvent": "BOOKING_NO_SHOW_UPDATED",
        "createdAt": "2024-06-03T10:00:00.000Z",
        "payload": {
            "message": "no_show_updated",
            "bookingUid": "bFJeNb2uX8ANpT3JL5EfXw",
            "bookingId": 91,
            "attendees": [
                {"email": "gone@example.com", "noShow": True},
                {"email": "came@example.com", "noShow": False},
            ],
        },
    }
    result = calcom.parse(payload)
    assert [(i.type, i.email) for i in result.interactions] == [("appointment.no_show", "gone@example.com")]
    assert len(result.skipped) == 1


def test_calcom_form_submission_uses_the_email_answer():
    payload = {
        "triggerEvent": "FORM_SUBMITTED",
        "createdAt": "2024-06-03T10:00:00.000Z",
        "payload": {
            "formId": "f0e1",
            "formName": "Demo request",
            "teamId": None,
            "responses": {"Name": {"value": "Ann"}, "Email": {"value": "ann@example.com"}},
        },
    }
    interaction = only(calcom.parse(payload))
    assert (interaction.type, interaction.email) == ("form.submitted", "ann@example.com")
    assert interaction.id == only(calcom.parse(payload)).id  # stable on redelivery


# --- Typeform and Tally -------------------------------------------------------------------------
def test_typeform_response_keyed_on_event_id_with_form_id():
    interaction = only(typeform.parse(typeform_response()))
    assert (interaction.id, interaction.email) == ("LtWXD3crgy", "laura@example.com")
    assert interaction.properties["form_id"] == "lT4Z3j" and interaction.properties["score"] == 9


def test_typeform_falls_back_to_the_hidden_email_field():
    payload = typeform_response(answers=[], hidden={"email": "hidden@example.com"})
    assert only(typeform.parse(payload)).email == "hidden@example.com"


def test_tally_response_keyed_on_event_id():
    interaction = only(tally.parse(tally_response()))
    assert (interaction.id, interaction.type) == ("a4cb511e-d513-4fa5-baee-b815d718dfd1", "form.submitted")
    assert interaction.properties["form_id"] == "VwbNEw"


# --- Stripe -------------------------------------------------------------------------------------
PI = "pi_3MtwBwLkdIwHu7ix28a3tqPa"


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            stripe_event("payment_intent.succeeded", stripe_payment_intent(), "evt_1"), id="payment-intent"
        ),
        pytest.param(stripe_event("charge.succeeded", stripe_charge(), "evt_2"), id="charge"),
        pytest.param(stripe_event("invoice.paid", stripe_invoice(PI), "evt_3"), id="invoice"),
        pytest.param(stripe_event("invoice.paid", stripe_invoice(PI, newer_api=True), "evt_4"), id="invoice-newer-api"),
        pytest.param(
            stripe_event(
                "checkout.session.completed",
                {
                    "id": "cs_1",
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "payment_intent": PI,
                    "amount_total": 2000,
                    "currency": "usd",
                    "customer_details": {"email": "jenny.rosen@example.com"},
                },
                "evt_5",
            ),
            id="checkout",
        ),
    ],
)
def test_stripe_every_success_event_of_one_payment_has_the_same_id(event):
    interaction = only(stripe.parse(event))
    assert (interaction.type, interaction.id) == ("payment.succeeded", f"payment:{PI}")
    assert interaction.key == f"stripe:payment:{PI}"
    assert (interaction.properties["amount"], interaction.properties["currency"]) == (2000, "usd")
    assert interaction.email == "jenny.rosen@example.com"


def test_stripe_failures_of_one_attempt_share_the_charge():
    charge = only(stripe.parse(stripe_event("charge.failed", stripe_charge(status="failed"), "evt_a")))
    intent = stripe_payment_intent()
    intent.update(
        status="requires_payment_method",
        last_payment_error={"charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa", "code": "card_declined"},
    )
    failed = only(stripe.parse(stripe_event("payment_intent.payment_failed", intent, "evt_b")))
    assert charge.type == failed.type == "payment.failed"
    assert charge.id == failed.id == "payment-failed:ch_3MtwBwLkdIwHu7ix28a3tqPa"
    assert failed.properties["reason"] == "card_declined"


def test_stripe_refund():
    charge = stripe_charge()
    charge.update(amount_refunded=500, refunded=False)
    interaction = only(stripe.parse(stripe_event("charge.refunded", charge, "evt_r")))
    assert (interaction.type, interaction.id, interaction.properties["amount"]) == (
        "payment.refunded",
        "evt_r",
        500,
    )


def test_stripe_remembers_the_customer_email_and_waits_for_it_when_only_the_customer_is_known():
    linked = stripe.parse(
        stripe_event("payment_intent.succeeded", stripe_payment_intent(customer="cus_NffrFeUfNV2Hib"))
    )
    assert [(a.kind, a.value, a.email) for a in linked.aliases] == [
        ("stripe", "cus_NffrFeUfNV2Hib", "jenny.rosen@example.com")
    ]
    later = stripe.parse(
        stripe_event(
            "payment_intent.succeeded",
            stripe_payment_intent(email=None, customer="cus_NffrFeUfNV2Hib", pi="pi_2"),
        )
    )
    assert later.interactions == [] and [(a.kind, a.value) for a in later.awaiting] == [
        ("stripe", "cus_NffrFeUfNV2Hib")
    ]


def test_stripe_customer_events_only_teach_the_email():
    result = stripe.parse(
        stripe_event("customer.created", {"id": "cus_1", "object": "customer", "email": "c@example.com"})
    )
    assert result.interactions == [] and result.aliases[0].email == "c@example.com"


# --- Standard Webhooks ---------------------------------------------------------------------------
def test_standard_accepts_a_batch_in_the_core_format_under_the_url_source():
    result = standard.parse(
        {"interactions": [standard_interaction(id_="a"), standard_interaction(id_="b")]}, "crm"
    )
    assert [i.key for i in result.interactions] == ["crm:a", "crm:b"]


def test_standard_refuses_a_body_claiming_another_source():
    with pytest.raises(ValidationError):
        standard.parse(standard_interaction(source="billing"), "crm")


def test_standard_names_each_bad_item():
    with pytest.raises(ValidationError) as caught:
        standard.parse({"interactions": [standard_interaction(), {"id": "x"}]}, "crm")
    assert list(caught.value.errors["interactions"]) == [1]


def test_calcom_attendee_email_that_is_not_text_is_skipped_not_a_crash():
    payload = calcom_booking()
    for attendee in payload["payload"]["attendees"]:
        attendee["email"] = 12345
    result = calcom.parse(payload)
    assert result.interactions == [] and len(result.skipped) == 1


# --- Stripe: an email that sits only on the charge -----------------------------------------------
def _intent_with_charge_email(where: str) -> dict:
    intent = stripe_payment_intent(email=None)
    charge = {**stripe_charge(email=None), "billing_details": {"email": "Only.On.Charge@example.com"}}
    if where == "charges-list":  # API versions before 2022-11-15
        intent["charges"] = {"object": "list", "data": [charge], "has_more": False}
    else:  # latest_charge expanded
        intent["latest_charge"] = charge
    return intent


@pytest.mark.parametrize("where", ["charges-list", "latest-charge-expanded"])
def test_stripe_scores_a_payment_whose_email_is_only_on_its_charge(where):
    result = stripe.parse(stripe_event("payment_intent.succeeded", _intent_with_charge_email(where)))
    [scored] = result.interactions
    assert scored.email == "only.on.charge@example.com" and scored.type == "payment.succeeded"
    assert result.skipped == []


# --- Stripe's contact email: the first candidate that is an email, each looked at only when needed --------------
def eager_contact_email(obj):
    """``stripe.contact_email`` as it was (2026-12-03 afternoon): every candidate built, then the first taken."""
    candidates = [obj.get("receipt_email"), stripe.nested(obj, "billing_details", "email"), obj.get("customer_email"),
                  stripe.nested(obj, "customer_details", "email"), stripe.nested(obj, "customer", "email")]
    if obj.get("object") == "customer":
        candidates.insert(0, obj.get("email"))
    for charge in stripe.charges_of(obj):
        candidates += [stripe.nested(charge, "billing_details", "email"), charge.get("receipt_email")]
    return next((c for c in candidates if isinstance(c, str) and "@" in c), None)


_VALUES = st.one_of(st.emails(), st.sampled_from([None, "", "not an email", 5, ["x@y.z"], {"email": "x@y.z"}]))
_EMAIL_HOLDER = st.one_of(st.fixed_dictionaries({"email": _VALUES}), _VALUES)
_CHARGE = st.one_of(st.fixed_dictionaries({}, optional={"billing_details": _EMAIL_HOLDER, "receipt_email": _VALUES}),
                    _VALUES)
_STRIPE_OBJECT = st.fixed_dictionaries({}, optional={
    "object": st.sampled_from(["customer", "payment_intent", "charge"]), "email": _VALUES, "receipt_email": _VALUES,
    "billing_details": _EMAIL_HOLDER, "customer_email": _VALUES, "customer_details": _EMAIL_HOLDER,
    "customer": st.one_of(_VALUES, _EMAIL_HOLDER), "latest_charge": _CHARGE,
    "charges": st.one_of(_VALUES, st.fixed_dictionaries({}, optional={"data": st.one_of(_VALUES, st.lists(_CHARGE,
                                                                                                      max_size=3))}))})


@settings(max_examples=500, deadline=None)
@given(obj=_STRIPE_OBJECT)
def test_stripe_contact_email_is_the_first_email_among_the_candidates_in_order(obj):
    assert stripe.contact_email(obj) == eager_contact_email(obj)


# --- the shared helpers' fast forms, against the forms they replaced -------------------------------------------
def required_as_before(mapping, name, where, structured=False):
    """``results.require`` before its answer for single values (the reference)."""
    if not results.is_mapping(mapping):
        raise ValidationError(f"{where} must be an object.", {where: "must be an object"})
    value = mapping.get(name)
    if value is None or value == "" or value == [] or value == {}:
        raise ValidationError(f"{where}.{name} is required.", {f"{where}.{name}": "required"})
    if not structured and isinstance(value, (list, dict)):
        raise ValidationError(
            f"{where}.{name} must be a single value.", {f"{where}.{name}": "not a single value"}
        )
    return value


class Text(str):
    """A str subclass (no JSON parser makes one): the general path decides for it."""


def epoch_as_before(value, where):
    """``results.from_epoch_seconds`` before its answer for plain integers (the reference)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where} must be a number of seconds since the epoch.",
                              {where: "not a timestamp"}) from exc
    try:
        if isinstance(value, bool) or math.isnan(seconds):
            raise ValueError("not a number")
        ms = check_timestamp_ms(int(seconds * 1000))
    except (ValueError, OverflowError) as exc:
        raise ValidationError(f"{where} must be a number of seconds since the epoch.",
                              {where: [f"not a timestamp: {exc}"]}) from exc
    return Moment.of(ms)


def answer(function, *args):
    """What a helper gives: its value (with a Moment's milliseconds), or its refusal's message and errors."""
    try:
        value = function(*args)
    except ValidationError as exc:
        return "refused", exc.message, exc.errors
    return "gave", value, type(value), getattr(value, "ms", None)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
                           | st.builds(Text, st.text(max_size=2)),
                           lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner,
                                                                                        max_size=2), max_leaves=4)


@settings(max_examples=500)
@given(value=JSON_VALUES | st.sampled_from(["", 0, 0.0, False, [], {}, Text(""), "x"]), present=st.booleans(),
       structured=st.booleans(), mapping=st.booleans())
def test_a_required_field_is_judged_as_before(value, present, structured, mapping):
    payload = ({"f": value} if present else {}) if mapping else value
    assert answer(results.require, payload, "f", "_body", structured) == \
        answer(required_as_before, payload, "f", "_body", structured)


@settings(max_examples=500)
@given(value=st.integers(-10, 10**12) | st.sampled_from([0, -1, 2**53, True, False, *(
    results._LAST_EPOCH_SECOND + n for n in (-1, 0, 1))]) | st.floats(allow_nan=True) | st.text(max_size=12)
       | st.none())
def test_an_epoch_timestamp_is_read_as_before(value):
    assert answer(results.from_epoch_seconds, value, "created") == answer(epoch_as_before, value, "created")
