"""What each step does. A step returns a ``StepResult`` or raises ``StepFailed`` (the run stops)
or ``StepRetry`` (the run resumes this step later, up to the step retry schedule).
"""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from ..contact_directory import change_tags
from ..errors import ScorekeeperError
from ..outbound import OutboundRefused, session_for
from ..scoring.conditions import score_matches
from ..scoring.durations import parse_duration_ms
from ..settings import setting
from .defaults import MAX_CHAIN_DEPTH
from .deliveries import create_delivery
from ..clock import now_ms
from ..scoring.records import TimelineRecord
from .templates import TemplateFailed, render
from .triggers import TagFilters

#: Seconds to wait for the SMTP server.
SMTP_TIMEOUT_SECONDS = 15.0


class StepFailed(Exception):
    """The step cannot succeed; the run stops with this message."""


class StepRetry(Exception):
    """The step failed for a passing reason (server down, 429, 5xx); try it again later."""


@dataclass
class StepResult:
    detail: dict[str, Any] = field(default_factory=dict)
    wait_ms: int | None = None


@dataclass
class RunContext:
    """What the steps of one run see: services, the run document and the contact (read fresh)."""

    services: Any
    run: dict[str, Any]
    contact: dict[str, Any]
    #: Deliveries made by this execution's webhook steps, whose first attempt the run job makes when its steps
    #: are done (``deliveries.attempt_first``).
    deliveries: list[str] = field(default_factory=list)

    def live_score(self, profile_id: str) -> int | None:
        live = self.services.profiles.live().get(profile_id)
        if live is None:
            return None
        state = self.contact.get("states", {}).get(live.field)
        return state.score if state else None

    def template_context(self) -> dict[str, Any]:
        trigger = self.run["trigger"]
        contact = {k: self.contact.get(k) for k in ("id", "email", "external_id", "tags")}
        profile = trigger.get("profile")
        of_company = trigger.get("kind") == "company"  # old and new are the company's score, not the contact's
        score = {"profile": profile, "old": None if of_company else trigger.get("old"),
                 "new": None if of_company else trigger.get("new"),
                 "current": self.live_score(profile) if profile else None}
        grade = ({"grade": trigger.get("grade"), "old": trigger.get("old"), "new": trigger.get("new")}
                 if trigger.get("kind") == "grade" else None)
        company = ({"id": trigger.get("company"), "profile": profile, "old": trigger.get("old"),
                    "new": trigger.get("new")} if of_company else None)
        return {"contact": contact, "score": score, "profile": profile, "workflow": self.run["workflow"],
                "run": {"id": self.run["id"]}, "interaction": trigger.get("interaction"), "grade": grade,
                "company": company}


def when_holds(context: RunContext, when: dict[str, Any] | None) -> bool:
    if not when:
        return True
    if not TagFilters.from_json(when).passes(context.contact.get("tags") or ()):
        return False
    if when.get("operator"):
        return score_matches(when["operator"], context.live_score(when["profile"]), when.get("value"))
    return True


def run_tag(context: RunContext, step: dict[str, Any], index: int) -> StepResult:
    add, remove = ([step["tag"]], []) if step["type"] == "add_tag" else ([], [step["tag"]])
    tags = change_tags(context.services, context.contact["id"], add, remove)
    context.contact["tags"] = tags
    return StepResult({"tags": tags})


def run_adjust_score(context: RunContext, step: dict[str, Any], index: int) -> StepResult:
    """adjust_score (add or set) and reset_score (back to 0, a fresh start): a manual entry with the reason."""
    depth = int(context.run.get("depth") or 0) + 1
    if depth > MAX_CHAIN_DEPTH:
        raise StepFailed(f"workflow chain too deep: this score change would be the {depth}th caused by workflows "
                         f"in a row (limit {MAX_CHAIN_DEPTH}); stopped to avoid a loop")
    if step["type"] == "reset_score":
        op, value = "reset", 0
    else:
        op, value = ("add", step["add"]) if "add" in step else ("set", step["set"])
    try:
        score = context.services.change_score(context.contact["id"], step["profile"], op, value,
                                              step.get("reason") or "workflow", depth=depth, source="workflow")
    except ScorekeeperError as error:
        raise StepFailed(error.message) from error
    return StepResult({"profile": step["profile"], "score": score, "depth": depth})


def _smtp_send(settings: Any, message: EmailMessage) -> None:
    url = setting(settings, "SMTP_URL")
    if not url:
        raise StepFailed("email is not configured: set SCOREKEEPER_SMTP_URL")
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise StepFailed("SCOREKEEPER_SMTP_URL must start with smtp:// or smtps://")
    options = parse_qs(parts.query)
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    try:
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(parts.hostname, port, timeout=SMTP_TIMEOUT_SECONDS,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(parts.hostname, port, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            if options.get("starttls", ["0"])[0] in ("1", "true"):
                client.starttls(context=ssl.create_default_context())
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise StepRetry(f"SMTP server answered {error.smtp_code}") from error
        raise StepFailed(f"SMTP server refused the message: {error.smtp_code}") from error
    except smtplib.SMTPRecipientsRefused as error:
        raise StepFailed("SMTP server refused the recipients") from error
    except (OSError, smtplib.SMTPException) as error:
        raise StepRetry(f"SMTP unavailable: {type(error).__name__}") from error


def run_notify(context: RunContext, step: dict[str, Any], index: int) -> StepResult:
    values = context.template_context()
    try:
        text = render(step["message"], values)
        subject = render(step.get("subject") or "Scorekeeper: {{ workflow.name }}", values)
    except TemplateFailed as error:
        raise StepFailed(str(error)) from error
    settings = context.services.settings
    channel = step["channel"]
    if channel == "inbox":
        notification = {"id": f"{context.run['id']}:{index}", "run_id": context.run["id"],
                        "workflow": context.run["workflow"], "contact_id": context.contact["id"],
                        "to": step.get("to"), "message": text, "at": now_ms()}
        context.services.automation.push_notification(notification)
        return StepResult({"channel": "inbox"})
    if channel == "email":
        message = EmailMessage()
        message["From"] = setting(settings, "SMTP_FROM")
        message["To"] = step["to"]
        message["Subject"] = subject
        message["Message-ID"] = f"<{context.run['id']}.{index}@scorekeeper>"
        message.set_content(text)
        _smtp_send(settings, message)
        return StepResult({"channel": "email", "to": step["to"]})
    session = session_for(settings)
    try:
        response = session.post(step["to"], json={"text": text}, allow_redirects=False,
                                timeout=float(setting(settings, "WEBHOOK_TIMEOUT_SECONDS")))
    except OutboundRefused as error:
        raise StepFailed(f"refused: {error}") from error
    except (requests.Timeout, requests.ConnectionError) as error:
        raise StepRetry(f"slack unreachable: {type(error).__name__}") from error
    finally:
        session.close()
    if response.status_code == 429 or response.status_code >= 500:
        raise StepRetry(f"slack answered HTTP {response.status_code}")
    if not 200 <= response.status_code < 300:
        raise StepFailed(f"slack answered HTTP {response.status_code}: {response.text[:200]}")
    return StepResult({"channel": "slack", "status_code": response.status_code})


def webhook_payload(context: RunContext) -> dict[str, Any]:
    trigger = context.run["trigger"]
    occurred = datetime.fromtimestamp((trigger.get("at") or context.run["created_at"]) / 1000, tz=UTC)
    payload: dict[str, Any] = {
        "type": f"{trigger['kind']}.trigger",
        "run_id": context.run["id"],
        "workflow": dict(context.run["workflow"]),
        "contact": {k: context.contact.get(k) for k in ("id", "email", "tags")},
        "score": ({"profile": trigger["profile"], "old": trigger["old"], "new": trigger["new"]}
                  if trigger["kind"] == "score" else None),
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
    }
    if trigger["kind"] == "grade":
        payload["grade"] = {"grade": trigger["grade"], "old": trigger["old"], "new": trigger["new"]}
    if trigger["kind"] == "company":
        payload["company"] = {"id": trigger["company"], "profile": trigger["profile"], "old": trigger["old"],
                              "new": trigger["new"]}
    if trigger["kind"] == "interaction":
        record = TimelineRecord.from_json(trigger["interaction"])
        payload["interaction"] = {"id": record.id, "source": record.source, "type": record.type,
                                  "properties": record.properties}
    return payload


def run_webhook(context: RunContext, step: dict[str, Any], index: int) -> StepResult:
    delivery_id = create_delivery(context.services, context.run, index, step, webhook_payload(context),
                                  attempt_later=context.deliveries)
    return StepResult({"delivery_id": delivery_id})


def run_wait(context: RunContext, step: dict[str, Any], index: int) -> StepResult:
    return StepResult({"duration": step["duration"]}, wait_ms=parse_duration_ms(step["duration"], bounded=False))


STEPS = {"add_tag": run_tag, "remove_tag": run_tag, "adjust_score": run_adjust_score,
         "reset_score": run_adjust_score, "notify": run_notify,
         "webhook": run_webhook, "wait": run_wait}
