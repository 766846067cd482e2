"""Trying a workflow without running it: a test run against one contact (what each step would do,
nothing sent or changed), and a webhook step's test delivery to its receiver.

The test run renders messages and payloads exactly as a real run would (``steps.RunContext``),
simulating the tags and scores the earlier steps would change. The test delivery is one signed
POST through the SSRF guard, answered with the status code; it is not stored or retried.
"""
from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import requests
from standardwebhooks import Webhook

from ..outbound import OutboundRefused, session_for
from ..scoring.conditions import score_matches
from ..words import step_sentence
from ..settings import setting
from .defaults import RESPONSE_EXCERPT_CHARS
from .steps import RunContext, webhook_payload, when_holds
from .triggers import TagFilters
from ..clock import now_ms
from ..scoring.records import TimelineRecord
from .templates import TemplateFailed, render

DEFAULT_SUBJECT = "Scorekeeper: {{ workflow.name }}"


@dataclass(frozen=True)
class StepPreview:
    """What one step would do for the contact."""

    index: int
    type: str
    sentence: str
    outcome: str
    detail: str | None = None
    skipped: bool = False


@dataclass(frozen=True)
class TestRun:
    """A workflow tried against one contact: whether it would fire now, and each step's preview."""

    contact_id: str
    fires: bool
    why: str
    steps: list[StepPreview] = field(default_factory=list)


def _trigger_snapshot(config: dict[str, Any], context_score: int | None) -> dict[str, Any]:
    trigger = config["trigger"]
    if trigger["type"] == "score_changed":
        return {"kind": "score", "profile": trigger["profile"], "old": context_score, "new": context_score,
                "at": now_ms()}
    if trigger["type"] == "grade_changed":
        return {"kind": "grade", "grade": trigger["grade"], "old": None, "new": None, "at": now_ms()}
    if trigger["type"] == "company_score_changed":
        return {"kind": "company", "company": None, "profile": trigger["profile"], "old": None, "new": None,
                "at": now_ms()}
    at = now_ms()
    return {"kind": "interaction", "at": at, "interaction": TimelineRecord("test", "test", trigger["on"], at, {}).to_json()}


def _fires(config: dict[str, Any], context: RunContext) -> tuple[bool, str]:
    """Whether the trigger's condition and tag filters hold for the contact right now."""
    trigger = config["trigger"]
    refused = TagFilters.from_json(trigger.get("filters")).refusal(context.contact.get("tags") or ())
    if refused:
        return False, refused
    if trigger["type"] == "score_changed":
        score = context.live_score(trigger["profile"])
        holds = score_matches(trigger["operator"], score, trigger.get("value"))
        shown = "no score" if score is None else f"a score of {score}"
        return holds, f"the contact has {shown}, so the condition {'holds' if holds else 'does not hold'}"
    if trigger["type"] == "grade_changed":
        return True, f"it would fire when the contact's cell in grade {trigger['grade']} changes"
    if trigger["type"] == "company_score_changed":
        return True, (f"it would fire when a change of this contact moves its company's {trigger['profile']} "
                      "company score to meet the condition")
    return True, f"it would fire when a {trigger['on']} interaction of this contact arrives"


def test_run(services: Any, workflow_id: str, config: dict[str, Any], contact: dict[str, Any],
             names: dict[str, str] | None = None) -> TestRun:
    """Each step's outcome for ``contact``; nothing is stored, sent or changed."""
    contact = copy.deepcopy(contact)
    run = {"id": f"test-{uuid.uuid4().hex[:8]}", "workflow": {"id": workflow_id, "name": config.get("name")},
           "created_at": now_ms(), "depth": 0, "trigger": {}}
    context = RunContext(services, run, contact)
    trigger = config["trigger"]
    current = context.live_score(trigger["profile"]) if trigger["type"] == "score_changed" else None
    run["trigger"] = _trigger_snapshot(config, current)
    fires, why = _fires(config, context)
    previews = []
    for index, step in enumerate(config.get("steps") or []):
        sentence = step_sentence(step, names)
        if not when_holds(context, step.get("when")):
            previews.append(StepPreview(index, step["type"], sentence, "skipped: its condition does not hold",
                                        skipped=True))
            continue
        outcome, detail = _preview(context, step)
        previews.append(StepPreview(index, step["type"], sentence, outcome, detail))
    return TestRun(contact["id"], fires, why, previews)


def _preview(context: RunContext, step: dict[str, Any]) -> tuple[str, str | None]:
    kind = step["type"]
    tags = set(context.contact.get("tags") or ())
    if kind in ("add_tag", "remove_tag"):
        tag = step["tag"]
        if (kind == "add_tag") == (tag in tags):
            return f"nothing: the contact {'already has' if tag in tags else 'does not have'} “{tag}”", None
        (tags.add if kind == "add_tag" else tags.discard)(tag)
        context.contact["tags"] = sorted(tags)
        return f"would {'add' if kind == 'add_tag' else 'remove'} “{tag}”", None
    if kind == "notify":
        values = context.template_context()
        try:
            text = render(step["message"], values)
            subject = render(step.get("subject") or DEFAULT_SUBJECT, values)
        except TemplateFailed as error:
            return f"would fail: {error}", None
        if step["channel"] == "email":
            return f"would email {step['to']}", f"Subject: {subject}\n\n{text}"
        return f"would post to {'Slack' if step['channel'] == 'slack' else 'the inbox'}", text
    if kind == "webhook":
        payload = orjson.dumps(webhook_payload(context), option=orjson.OPT_INDENT_2).decode()
        return f"would POST a signed request to {step['url']}", payload
    if kind == "wait":
        return "would wait, then carry on with the next step", None
    if kind == "adjust_score":
        score = context.live_score(step["profile"])
        if score is None:
            return f"would fail unless {step['profile']} is published and the contact has a score", None
        new = step["set"] if "set" in step else max(0, score + int(step["add"]))
        return f"would change the score from {score} to {new}", None
    if kind == "reset_score":
        score = context.live_score(step["profile"])
        if score is None:
            return f"would fail unless {step['profile']} is published and the contact has a score", None
        return f"would reset the score from {score} to 0 (a fresh start: earlier points stop counting)", None
    return "unknown step", None


@dataclass(frozen=True)
class TestDelivery:
    status_code: int | None
    error: str | None
    excerpt: str | None = None


def send_test(services: Any, step: dict[str, Any], workflow: dict[str, Any]) -> TestDelivery:
    """POST a signed sample event (``type: test``) to a webhook step's URL through the SSRF guard."""
    message_id = f"msg_test_{uuid.uuid4().hex}"
    at = datetime.now(tz=UTC)
    body = orjson.dumps({"type": "test", "workflow": workflow, "occurred_at": at.isoformat().replace("+00:00", "Z"),
                         "message": "A test delivery from Scorekeeper's workflow builder."}).decode()
    try:
        signature = Webhook(step["secret"]).sign(message_id, at, body)
    except Exception as error:  # noqa: BLE001 - a malformed secret in an unsaved form
        return TestDelivery(None, f"the secret is not valid: {type(error).__name__}")
    headers = {**dict(step.get("headers") or {}), "content-type": "application/json", "webhook-id": message_id,
               "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature,
               "user-agent": "Scorekeeper-Webhooks/1"}
    session = session_for(services.settings)
    try:
        response = session.post(step["url"], data=body.encode(), headers=headers, allow_redirects=False,
                                timeout=float(setting(services.settings, "WEBHOOK_TIMEOUT_SECONDS")))
        result = TestDelivery(response.status_code, None, response.text[:RESPONSE_EXCERPT_CHARS])
        response.close()
        return result
    except OutboundRefused as error:
        return TestDelivery(None, f"refused: {error}")
    except requests.Timeout:
        return TestDelivery(None, "timed out")
    except requests.RequestException as error:
        return TestDelivery(None, f"could not connect: {type(error).__name__}")
    finally:
        session.close()
