"""The asyncio client: the blocking client's methods, awaited."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Mapping

import httpx

from . import _core
from ._core import Event
from .generated import AuthenticatedClient
from .generated.api.approvals import approvals_decide, approvals_list
from .generated.api.executions import executions_cancel, executions_get, executions_start
from .generated.api.runs import runs_cancel, runs_create, runs_get, runs_list, runs_steps
from .generated.api.workflows import workflows_get
from .generated.models import (
    ApprovalList,
    ApprovalView,
    DecisionBody,
    ExecutionView,
    RunList,
    RunStatus,
    RunView,
    StepsView,
    SubmitRun,
    WorkflowView,
)
from .generated.types import UNSET


class AsyncClient:
    """An asyncio client of one AOS deployment as one API key.

    ``api`` is the generated client, for the routes this layer has no method for::

        from aos_client.generated.api.credits_ import credits_get
        await credits_get.asyncio(client=aos.api)
    """

    def __init__(self, url: str, api_key: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api = AuthenticatedClient(
            base_url=self.url,
            token=api_key.strip(),
            timeout=httpx.Timeout(timeout + _core.WAIT_SLICE, connect=10.0),
        )

    async def aclose(self) -> None:
        """Closes the connections."""
        await self.api.get_async_httpx_client().aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- runs ----

    async def submit(
        self,
        run: SubmitRun | Mapping[str, Any],
        idempotency_key: str | None = None,
        wait: float | None = None,
    ) -> RunView:
        """Submits a run (``POST /v1/runs``): a plan or a goal, as a dict or a model. With
        ``wait`` (seconds, at most 25 a call) it answers once the run has finished or
        that time has passed; ``idempotency_key`` makes a retry answer the first run."""
        return _core.unwrap(
            await runs_create.asyncio_detailed(
                client=self.api,
                body=_core.run_body(run),
                wait=UNSET if wait is None else _core.wait_param(min(wait, _core.WAIT_SLICE)),
                idempotency_key=UNSET if idempotency_key is None else idempotency_key,
            )
        )

    async def submit_and_wait(
        self,
        run: SubmitRun | Mapping[str, Any],
        timeout: float = 60.0,
        idempotency_key: str | None = None,
    ) -> RunView:
        """Submits a run and waits until it has finished or ``timeout`` seconds have
        passed (the answer's status says which)."""
        start = time.monotonic()
        first = await self.submit(run, idempotency_key=idempotency_key, wait=min(timeout, _core.WAIT_SLICE))
        if _core.status_of(first) in _core.TERMINAL_RUN:
            return first
        return await self.wait(first.id, max(0.0, timeout - (time.monotonic() - start)))

    async def get(self, run_id: str) -> RunView:
        """A run (``GET /v1/runs/{id}``)."""
        return _core.unwrap(await runs_get.asyncio_detailed(run_id, client=self.api))

    async def wait(self, run_id: str, timeout: float = 60.0) -> RunView:
        """Waits until the run has finished or ``timeout`` seconds have passed, in
        ``?wait=`` calls of at most 25 s."""
        deadline = time.monotonic() + timeout
        while True:
            left = min(max(0.0, deadline - time.monotonic()), _core.WAIT_SLICE)
            run = _core.unwrap(await runs_get.asyncio_detailed(run_id, client=self.api, wait=_core.wait_param(left)))
            if _core.status_of(run) in _core.TERMINAL_RUN or time.monotonic() >= deadline:
                return run

    async def steps(self, run_id: str) -> StepsView:
        """A run's steps and whether its checkpoint chain verifies."""
        return _core.unwrap(await runs_steps.asyncio_detailed(run_id, client=self.api))

    async def list_runs(self, status: str | None = None, limit: int | None = None, before: str | None = None) -> RunList:
        """A page of runs, newest first."""
        return _core.unwrap(
            await runs_list.asyncio_detailed(
                client=self.api,
                status=UNSET if status is None else RunStatus(status),
                limit=UNSET if limit is None else limit,
                before=UNSET if before is None else before,
            )
        )

    async def cancel(self, run_id: str) -> RunView:
        """Cancels a run (its agent children too)."""
        return _core.unwrap(await runs_cancel.asyncio_detailed(run_id, client=self.api))

    def stream(self, run_id: str, last_event_id: str | None = None) -> AsyncIterator[Event]:
        """The run's events (``GET /v1/runs/{id}/events``): ``step`` as each step
        changes (a finished step's index is the event id), then ``run`` at its end. A
        stream the server closes early (API Gateway: 25 s) is re-opened after the last
        id, so no finished step is missed or repeated."""
        return self._follow(f"/v1/runs/{run_id}/events", last_event_id)

    # ---- workflows ----

    async def apply_workflow(self, spec: str | Mapping[str, Any], format: str = "yaml") -> WorkflowView:
        """Validates and stores a workflow spec (YAML or JSON text, or a dict) as its
        next version; the same spec again stores nothing."""
        body, media = _core.spec_request(spec, format)
        resp = await self.api.get_async_httpx_client().post("/v1/workflows", content=body, headers={"Content-Type": media})
        if resp.status_code >= 300:
            raise _core.error_of(resp.status_code, resp.headers, resp.content)
        return WorkflowView.from_dict(resp.json())

    async def workflow(self, name: str, version: int | None = None) -> WorkflowView:
        """A workflow version (the latest by default)."""
        return _core.unwrap(
            await workflows_get.asyncio_detailed(name, client=self.api, version=UNSET if version is None else version)
        )

    async def start(
        self,
        workflow: str,
        input: Any = None,
        version: int | None = None,
        budget_cents: int | None = None,
        idempotency_key: str | None = None,
    ) -> ExecutionView:
        """Starts an execution of a workflow."""
        return _core.unwrap(
            await executions_start.asyncio_detailed(
                workflow,
                client=self.api,
                body=_core.start_body(input, version, budget_cents),
                idempotency_key=UNSET if idempotency_key is None else idempotency_key,
            )
        )

    async def execution(self, execution_id: str) -> ExecutionView:
        """An execution with its nodes."""
        return _core.unwrap(await executions_get.asyncio_detailed(execution_id, client=self.api))

    async def wait_execution(self, execution_id: str, timeout: float = 60.0) -> ExecutionView:
        """Waits until the execution has ended or ``timeout`` seconds have passed (its
        ``finished`` says which)."""
        deadline = time.monotonic() + timeout
        while True:
            left = min(max(0.0, deadline - time.monotonic()), _core.WAIT_SLICE)
            e = _core.unwrap(await executions_get.asyncio_detailed(execution_id, client=self.api, wait=_core.wait_param(left)))
            if e.finished or time.monotonic() >= deadline:
                return e

    async def cancel_execution(self, execution_id: str) -> ExecutionView:
        """Cancels an execution."""
        return _core.unwrap(await executions_cancel.asyncio_detailed(execution_id, client=self.api))

    def stream_execution(self, execution_id: str, last_event_id: str | None = None) -> AsyncIterator[Event]:
        """The execution's events: ``node`` as nodes change, ``compensation`` as they
        run, then ``execution`` at its end; re-opened after the last id when closed."""
        return self._follow(f"/v1/executions/{execution_id}/events", last_event_id)

    # ---- approvals ----

    async def approvals(self, status: str | None = None) -> ApprovalList:
        """Approvals, newest first (``pending``, ``approved``, … when ``status`` is given)."""
        from .generated.models import ApprovalStatus

        return _core.unwrap(
            await approvals_list.asyncio_detailed(client=self.api, status=UNSET if status is None else ApprovalStatus(status))
        )

    async def approve(self, approval_id: str, comment: str | None = None) -> ApprovalView:
        """Approves a pending approval."""
        return await self._decide(approval_id, "approve", comment)

    async def reject(self, approval_id: str, comment: str | None = None) -> ApprovalView:
        """Rejects a pending approval."""
        return await self._decide(approval_id, "reject", comment)

    async def _decide(self, approval_id: str, decision: str, comment: str | None) -> ApprovalView:
        body = DecisionBody(decision=decision, comment=UNSET if comment is None else comment)
        return _core.unwrap(await approvals_decide.asyncio_detailed(approval_id, client=self.api, body=body))

    # ---- streams ----

    async def _follow(self, path: str, last: str | None) -> AsyncIterator[Event]:
        http = self.api.get_async_httpx_client()
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = last
            async with http.stream("GET", path, headers=headers, timeout=_core.stream_timeout()) as resp:
                if resp.status_code >= 300:
                    _core.check_stream(resp, await resp.aread())
                parser = _core.SseParser()
                async for line in resp.aiter_lines():
                    event = parser.line(line)
                    if event is None:
                        continue
                    if event.id is not None:
                        last = event.id
                    yield event
                    if _core.is_last(event):
                        return
            await asyncio.sleep(_core.RECONNECT_S)
