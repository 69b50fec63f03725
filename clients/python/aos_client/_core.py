"""What the sync and async clients share: errors, events, answers, waits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from .generated.models import (
    CompensationState,
    ExecutionView,
    FinishedStep,
    NodeView,
    RunView,
    StartExecution,
    SubmitRun,
    UnfinishedStep,
)
from .generated.models.error_body import ErrorBody
from .generated.types import Response

#: The longest single ``?wait=`` a client asks for: under API Gateway's 29 s integration
#: timeout (AOS caps it at 25 s there), so a longer wait is several calls.
WAIT_SLICE = 25.0

#: Pause before re-opening a stream the server closed before its end.
RECONNECT_S = 0.2

TERMINAL_RUN = {"succeeded", "failed", "cancelled"}


class AosError(Exception):
    """AOS refused a call: its HTTP status, the stable error code (``ERR_…``, see
    docs/error-codes.md), the message that says what to fix, the workflow node it is
    about (if any) and, for a 429 or 503, how many seconds to wait (``retry_after``)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        node: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}{f' (node {node})' if node else ''}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.node = node
        self.retry_after = retry_after


@dataclass
class Event:
    """One event of a stream: ``name`` (``step``/``run``, ``node``/``compensation``/
    ``execution``), ``id`` (what ``last_event_id`` resumes after; ``None`` for something
    still under way) and ``data`` (the step, run, node, compensation or execution as a
    model)."""

    name: str
    id: str | None
    data: Any


def error_of(status: int, headers: Mapping[str, str], content: bytes) -> AosError:
    """The :class:`AosError` of a non-success answer."""
    retry = headers.get("retry-after")
    retry_after = float(retry) if retry and retry.strip().isdigit() else None
    try:
        e = json.loads(content)["error"]
        return AosError(status, str(e["code"]), str(e["message"]), e.get("node"), retry_after)
    except (ValueError, KeyError, TypeError):
        text = content[:120].decode("utf-8", "replace")
        return AosError(status, "ERR_UNKNOWN", f"AOS answered {status} with a body that is not an AOS error: {text!r}")


def unwrap(resp: Response[Any]) -> Any:
    """The model of a success answer, or the :class:`AosError` of a refusal."""
    if 200 <= resp.status_code < 300 and resp.parsed is not None and not isinstance(resp.parsed, ErrorBody):
        return resp.parsed
    raise error_of(resp.status_code, resp.headers, resp.content)


def run_body(run: SubmitRun | Mapping[str, Any]) -> SubmitRun:
    """A run body from a model or a dict (as ``POST /v1/runs`` takes it)."""
    return run if isinstance(run, SubmitRun) else SubmitRun.from_dict(dict(run))


def start_body(
    input: Any = None,
    version: int | None = None,
    budget_cents: int | None = None,
    base_seed: int | None = None,
) -> StartExecution:
    """An execution's start body."""
    body: dict[str, Any] = {}
    if input is not None:
        body["input"] = input
    for k, v in (("version", version), ("budget_cents", budget_cents), ("base_seed", base_seed)):
        if v is not None:
            body[k] = v
    return StartExecution.from_dict(body)


def wait_param(seconds: float) -> str:
    """``?wait=`` for ``seconds`` (at least 1 ms)."""
    return f"{max(1, int(seconds * 1000))}ms"


def status_of(model: Any) -> str:
    """The status of a run or execution model as text."""
    s = model.status
    return str(getattr(s, "value", s))


def spec_request(spec: str | Mapping[str, Any], fmt: str) -> tuple[bytes, str]:
    """A workflow spec's body and content type: a dict is sent as JSON, text as ``fmt``
    (``yaml`` or ``json``)."""
    if not isinstance(spec, str):
        return json.dumps(spec).encode(), "application/json"
    if fmt not in ("yaml", "json"):
        raise ValueError("format is 'yaml' or 'json'")
    return spec.encode(), f"application/{fmt}"


def event_of(name: str, event_id: str | None, data: str) -> Event | None:
    """The typed event of an SSE block (``None`` for a name this client does not know)."""
    d = json.loads(data)
    if name == "step":
        model: Any = FinishedStep.from_dict(d) if "hash" in d else UnfinishedStep.from_dict(d)
    elif name == "run":
        model = RunView.from_dict(d)
    elif name == "node":
        model = NodeView.from_dict(d)
    elif name == "compensation":
        model = CompensationState.from_dict(d)
    elif name == "execution":
        model = ExecutionView.from_dict(d)
    else:
        return None
    return Event(name, event_id, model)


def is_last(event: Event) -> bool:
    """Whether the event ends its stream."""
    return event.name in ("run", "execution")


class SseParser:
    """Splits the lines of an event stream into events."""

    def __init__(self) -> None:
        self.name = ""
        self.id: str | None = None
        self.data: list[str] = []

    def line(self, line: str) -> Event | None:
        """Feeds one line (without its end); an event when a blank line ends one."""
        if line == "":
            event = None
            if self.data:
                event = event_of(self.name or "message", self.id, "\n".join(self.data))
            self.name, self.id, self.data = "", None, []
            return event
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self.name = value
        elif field == "id":
            self.id = value
        elif field == "data":
            self.data.append(value)
        return None


def stream_timeout() -> httpx.Timeout:
    """A stream has no whole-response limit; the server sends a keep-alive every 15 s."""
    return httpx.Timeout(connect=10.0, read=60.0, write=10.0, pool=10.0)


def check_stream(resp: httpx.Response, content: bytes) -> None:
    """Raises the :class:`AosError` of a stream that was refused."""
    if resp.status_code >= 300:
        raise error_of(resp.status_code, resp.headers, content)
