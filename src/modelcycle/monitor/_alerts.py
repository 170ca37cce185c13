"""Alerts: a monitored condition that starts (or worsens) posts once to webhooks, then waits
until it clears.

Two conditions are watched per model: ``drift`` (the data status: inputs, outputs, labels,
stream) and ``performance`` (thresholds). The last alert state of each lives in the metadata
store as ``"alert"`` events, so a restarted monitor, or a second replica of it, does not
alert again for a condition that is already known.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from modelcycle.config import Settings
from modelcycle.exceptions import ParameterError
from modelcycle.monitor._live import WindowResult
from modelcycle.monitor._report import DriftStatus
from modelcycle.store import MetadataStore

logger = logging.getLogger(__name__)

CONDITIONS = ("drift", "performance")
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_EMOJI = {"Stable": ":large_green_circle:", "Warning": ":warning:", "Drift": ":red_circle:"}
_COLOURS = {"Stable": "#2e7d32", "Warning": "#ef8f00", "Drift": "#c62828"}


def redact_url(url: str) -> str:
    """A webhook URL safe to log: scheme and host only (Slack and Teams keep the secret in
    the path, others in the query or the user part).

    Examples
    --------
    >>> redact_url("https://hooks.slack.com/services/T000/B000/XXXX")
    'https://hooks.slack.com/…'
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


@dataclass(frozen=True)
class Delivery:
    """The outcome of posting one alert to one webhook (its URL redacted)."""

    webhook: str
    ok: bool
    attempts: int
    status_code: int | None
    error: str | None = None


@dataclass(frozen=True)
class Alert:
    """One alert: a condition that fired or cleared, its message, and where it went."""

    model: str
    condition: str
    state: str  # "firing" or "cleared"
    level: DriftStatus
    text: str
    payload: dict[str, Any]
    deliveries: tuple[Delivery, ...]

    @property
    def delivered(self) -> bool:
        """Whether at least one webhook took it (or none is configured: the event is the alert)."""
        return not self.deliveries or any(d.ok for d in self.deliveries)


class Alerter:
    """Turn status changes of checked windows into webhook posts and ``"alert"`` events.

    Parameters
    ----------
    webhooks
        URLs to post to; default ``MODELCYCLE_WEBHOOKS`` (comma-separated). With none, alerts
        are only recorded as events.
    store
        Where alert state is kept (default: the configured metadata store).
    retries
        Further attempts after a failed post (connection errors, 408, 429, 5xx).
    backoff
        Seconds before the first retry; doubled for each further one.
    timeout
        Seconds allowed per attempt (connect, read and write each).
    notify_cleared
        Also post when a condition clears.
    sleep
        How to wait between attempts (tests pass a fake).

    Examples
    --------
    >>> from modelcycle.monitor import Alerter, check_window
    >>> alerter = Alerter(["https://hooks.slack.com/services/…"])        # doctest: +SKIP
    >>> alerter.notify(check_window("elec", thresholds={"accuracy": .7}))  # doctest: +SKIP
    [Alert(model='elec', condition='drift', state='firing', ...)]
    """

    def __init__(
        self,
        webhooks: Sequence[str] | None = None,
        *,
        store: MetadataStore | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 5.0,
        notify_cleared: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.webhooks = webhooks
        self.store = store
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.notify_cleared = notify_cleared
        self.sleep = sleep

    def _urls(self) -> list[str]:
        urls = list(self.webhooks) if self.webhooks is not None else Settings().webhooks
        for url in urls:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ParameterError("webhooks", "Alerter", "http(s) URLs", redact_url(url))
        return urls

    def state(self, model: str, condition: str) -> DriftStatus:
        """The level last alerted for ``condition`` of ``model`` (Stable: nothing is firing)."""
        store = self.store or MetadataStore()
        for event in reversed(store.events(model, kinds="alert")):
            if event.details.get("condition") != condition or not event.details.get("delivered"):
                continue
            if event.details.get("state") == "cleared":
                return DriftStatus.STABLE
            return DriftStatus(event.details.get("level", "Drift"))
        return DriftStatus.STABLE

    def notify(self, result: WindowResult) -> list[Alert]:
        """Alert on every condition of ``result`` that fired, worsened or cleared.

        A condition already alerted at this level (or a worse one) stays quiet until it
        clears, whatever process alerted it. An alert that no webhook accepted does not count
        as sent: the next check tries again.
        """
        if self.retries < 0 or self.backoff < 0 or self.timeout <= 0:
            raise ParameterError(
                "retries/backoff/timeout",
                "Alerter",
                "non-negative (timeout positive)",
                (self.retries, self.backoff, self.timeout),
            )
        urls = self._urls()
        store = self.store or MetadataStore()
        alerts = []
        for condition, level in (
            ("drift", result.drift_status),
            ("performance", result.performance_status),
        ):
            before = self.state(result.model, condition)
            if level.severity > before.severity:
                state = "firing"
            elif level is DriftStatus.STABLE and before is not DriftStatus.STABLE:
                state = "cleared"
            else:
                continue
            text = _text(result, condition, state, level)
            payload = _payload(result, condition, state, level, text)
            send = state == "firing" or self.notify_cleared
            deliveries = tuple(self._post(url, payload) for url in urls) if send else ()
            alert = Alert(result.model, condition, state, level, text, payload, deliveries)
            store.record_event(
                "alert",
                result.model,
                version=result.version,
                details={
                    "condition": condition,
                    "state": state,
                    "level": str(level),
                    "text": text,
                    "delivered": alert.delivered,
                    "deliveries": [d.__dict__ for d in deliveries],
                },
            )
            alerts.append(alert)
        return alerts

    def _post(self, url: str, payload: dict[str, Any]) -> Delivery:
        safe = redact_url(url)
        status: int | None = None
        error: str | None = None
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            for attempt in range(1, self.retries + 2):
                try:
                    response = client.post(url, json=payload)
                    status, error = response.status_code, None
                    if response.is_success:
                        return Delivery(safe, True, attempt, status)
                    if status not in _RETRY_STATUS:
                        break
                except httpx.HTTPError as exc:
                    # The exception text can hold the URL: keep only its type.
                    status, error = None, type(exc).__name__
                if attempt <= self.retries:
                    self.sleep(self.backoff * 2 ** (attempt - 1))
        logger.warning(
            "The webhook %s did not take the alert after %d attempts (%s)",
            safe,
            attempt,
            error or f"HTTP {status}",
        )
        return Delivery(safe, False, attempt, status, error or f"HTTP {status}")


def _text(result: WindowResult, condition: str, state: str, level: DriftStatus) -> str:
    where = f"{result.model} v{result.version} ({result.alias})"
    if state == "cleared":
        return f"{_EMOJI['Stable']} {where}: {condition} is back to Stable"
    why = "; ".join(result.reasons[:5]) or "no reason recorded"
    return f"{_EMOJI[level.value]} {where}: {condition} {level.value}: {why}"


def _payload(
    result: WindowResult, condition: str, state: str, level: DriftStatus, text: str
) -> dict[str, Any]:
    """Slack-compatible (``text``, ``blocks``, ``attachments``) plus structured fields."""
    window = f"{result.window_start:%Y-%m-%d %H:%M} – {result.window_end:%Y-%m-%d %H:%M} UTC"
    facts = [
        f"*window* {window}",
        f"*rows* {result.rows:,} ({result.labeled_rows:,} labeled)",
        *(f"*{k}* {v:.3f}" for k, v in result.performance.items() if v == v),
        *(f"*estimated {k}* {v:.3f}" for k, v in result.estimated.items() if v == v),
    ]
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f} for f in facts]},
        ],
        "attachments": [{"color": _COLOURS[level.value], "fallback": text}],
        "modelcycle": {
            "model": result.model,
            "version": result.version,
            "alias": result.alias,
            "condition": condition,
            "state": state,
            "level": str(level),
            "status": str(result.status),
            "reasons": list(result.reasons),
            "window_start": result.window_start.isoformat(),
            "window_end": result.window_end.isoformat(),
            "rows": result.rows,
            "labeled_rows": result.labeled_rows,
            "performance": {k: (v if v == v else None) for k, v in result.performance.items()},
            "estimated": {k: (v if v == v else None) for k, v in result.estimated.items()},
        },
    }
