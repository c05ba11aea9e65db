"""Alert webhooks: a JSON POST in one of three formats (ALERT_WEBHOOK_FORMAT).

- plain: our own JSON ({"type": "triage_alert", "alerts": [...]}) with a stable
  `delivery_id` a receiver can deduplicate on; signed with HMAC-SHA256 of the body
  (`X-Triage-Signature: sha256=<hex>`) when ALERT_WEBHOOK_SECRET is set.
- teams: a Microsoft Teams incoming webhook (or a Teams Workflows "when a webhook request is
  received" flow): a message with one Adaptive Card attachment.
- slack: a Slack incoming webhook: `text` (the notification) and Block Kit blocks.

2xx is delivered. 408, 429 and 5xx are retried; any other 4xx is permanent (a wrong or
revoked URL: retrying will not fix it). A timeout after the request went out may have
been delivered: retried marked as a possible repeat."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Optional

import requests

from bot.alerts.facts import AlertFacts
from bot.alerts.mail import DeliveryError

LEVEL_COLOURS = {"emergency": "attention", "urgent": "warning", "contact_team": "accent"}
RETRYABLE = {408, 425, 429}

_local = threading.local()


def _http() -> requests.Session:
    http = getattr(_local, "http", None)
    if http is None:
        http = _local.http = requests.Session()
    return http


def _plain(title: str, facts: list[AlertFacts], note: str, delivery_key: str) -> dict:
    return {"type": "triage_alert", "delivery_id": delivery_key, "title": title,
            "note": note, "alerts": [f.as_json() for f in facts]}


def _teams(title: str, facts: list[AlertFacts], note: str) -> dict:
    body: list[dict] = [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
                         "wrap": True}]
    for f in facts:
        body.append({"type": "FactSet", "separator": True,
                     "facts": [{"title": label, "value": value} for label, value in f.rows()
                               if label != "Transcript"]})
        body.append({"type": "TextBlock", "text": f"[Open the transcript]({f.link})", "wrap": True})
    if note:
        body.append({"type": "TextBlock", "text": note, "wrap": True, "isSubtle": True})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4", "body": body}
    if len(facts) == 1:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the transcript",
                            "url": facts[0].link}]
    return {"type": "message", "summary": title,
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                             "contentUrl": None, "content": card}]}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(title: str, facts: list[AlertFacts], note: str) -> dict:
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    for f in facts:
        lines = [f"*{label}:* {_slack_escape(value)}" for label, value in f.rows()
                 if label != "Transcript"]
        lines.append(f"<{f.link}|Open the transcript>")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    if note:
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": _slack_escape(note)}]})
    return {"text": title, "blocks": blocks}


def payload(fmt: str, *, title: str, facts: list[AlertFacts], note: str,
            delivery_key: str) -> str:
    if fmt == "teams":
        data = _teams(title, facts, note)
    elif fmt == "slack":
        data = _slack(title, facts, note)
    else:
        data = _plain(title, facts, note, delivery_key)
    return json.dumps(data, ensure_ascii=False)


def marked_as_repeat(fmt: str, body: str) -> str:
    data = json.loads(body)
    note = "This may repeat an earlier message (the first try was cut off)."
    if fmt == "plain":
        data["possible_repeat"] = True
    elif fmt == "slack":
        data["text"] = f"{data['text']} (may be a repeat)"
        data["blocks"].append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    else:
        data["attachments"][0]["content"]["body"].append(
            {"type": "TextBlock", "text": note, "wrap": True, "isSubtle": True})
    return json.dumps(data, ensure_ascii=False)


def post(url: str, body: str, *, timeout: float, secret: str = "",
         delivery_key: Optional[str] = None) -> None:
    """POST the JSON body; raises DeliveryError (the reason names the status, never the URL:
    Slack's and Teams' URLs are secrets)."""
    raw = body.encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if delivery_key:
        headers["Idempotency-Key"] = delivery_key
    if secret:
        digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        headers["X-Triage-Signature"] = f"sha256={digest}"
    try:
        response = _http().post(url, data=raw, headers=headers, timeout=timeout,
                                allow_redirects=False)
    except requests.ConnectTimeout:
        raise DeliveryError("webhook unreachable: ConnectTimeout", unreachable=True) from None
    except requests.ConnectionError as error:
        # Refused or unreachable: the request never went. Aborted: it went, and the
        # connection dropped before the answer.
        raise DeliveryError(f"webhook unreachable: {type(error).__name__}",
                            ambiguous="Connection aborted" in str(error),
                            unreachable=True) from None
    except requests.Timeout:
        raise DeliveryError("webhook timed out waiting for an answer", ambiguous=True,
                            unreachable=True) from None
    except requests.RequestException as error:
        raise DeliveryError(f"webhook failed: {type(error).__name__}") from None
    status = response.status_code
    if 200 <= status < 300:
        return
    permanent = 400 <= status < 500 and status not in RETRYABLE
    raise DeliveryError(f"webhook answered HTTP {status}", permanent=permanent,
                        unreachable=status >= 500)

