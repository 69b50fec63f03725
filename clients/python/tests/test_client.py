"""The Python client against a real `aos dev`: runs, waiting, streams, workflows,
approvals, errors; blocking and asyncio."""

from __future__ import annotations

import json
import pathlib
import time
import uuid

import pytest

from aos_client import AosError, AsyncClient, Client
from aos_client.generated.api.skills import skills_list
from aos_client.generated.models import FinishedStep, RunView, UnfinishedStep

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"


def quote_run(url: str, delay_ms: int = 0) -> dict:
    return {
        "input": {"symbol": "PY"},
        "plan": [
            {"id": "fetch", "skill": "http_call",
             "input": {"url": url + "/demo/quote?symbol=${input.symbol}&delay_ms=" + str(delay_ms)}},
            {"id": "pick", "skill": "json_transform",
             "input": {"expression": "symbol", "data": "${steps.fetch.output.body}"}},
        ],
    }


def test_the_quickstart_example_submits_and_waits_in_one_call(dev):
    url, key = dev
    run = json.loads((EXAMPLES / "quickstart.json").read_text())
    run["input"]["base_url"] = url
    with Client(url, key) as aos:
        done = aos.submit_and_wait(run, timeout=30)
        assert isinstance(done, RunView)
        assert done.status.value == "succeeded", done
        assert done.steps_done == 4
        steps = aos.steps(done.id)
        assert steps.chain_valid
        assert all(isinstance(s, FinishedStep) for s in steps.steps)
        assert aos.get(done.id).id == done.id
        assert done.id in [r.id for r in aos.list_runs(status="succeeded").runs]


def test_errors_carry_the_status_and_the_stable_code(dev):
    url, key = dev
    with Client(url, key) as aos:
        with pytest.raises(AosError) as e:
            aos.get("run_nope")
        assert (e.value.status, e.value.code) == (404, "ERR_NOT_FOUND")
        with pytest.raises(AosError) as e:
            aos.submit({"plan": [{"id": "x", "skill": "no_such_skill", "input": {}}]})
        assert (e.value.status, e.value.code) == (422, "ERR_SKILL_NOT_FOUND")
        assert "no_such_skill" in e.value.message
        with pytest.raises(AosError) as e:
            aos.wait("run_nope", timeout=1)
        assert e.value.code == "ERR_NOT_FOUND"
    with Client(url, "aos_not_a_key") as stranger:
        with pytest.raises(AosError) as e:
            stranger.list_runs()
        assert e.value.status == 401 and e.value.code.startswith("ERR_")


def test_an_idempotency_key_answers_the_first_run(dev):
    url, key = dev
    k = f"py-{uuid.uuid4()}"
    with Client(url, key) as aos:
        first = aos.submit(quote_run(url), idempotency_key=k)
        again = aos.submit(quote_run(url), idempotency_key=k)
        assert first.id == again.id
        with pytest.raises(AosError) as e:
            aos.submit({**quote_run(url), "input": {"symbol": "OTHER"}}, idempotency_key=k)
        assert (e.value.status, e.value.code) == (409, "ERR_IDEMPOTENCY_CONFLICT"), e.value


def test_stream_gives_each_step_then_the_run_and_resumes_after_an_id(dev):
    url, key = dev
    with Client(url, key) as aos:
        run = aos.submit(quote_run(url, delay_ms=300))
        events = list(aos.stream(run.id))
        finished = [e.id for e in events if e.name == "step" and isinstance(e.data, FinishedStep)]
        assert finished == ["0", "1"]
        assert any(isinstance(e.data, UnfinishedStep) for e in events), "the slow step was seen running"
        assert events[-1].name == "run" and events[-1].data.status.value == "succeeded"
        after = list(aos.stream(run.id, last_event_id="0"))
        assert [e.id for e in after] == ["1", None]
        with pytest.raises(AosError) as e:
            list(aos.stream(run.id, last_event_id="9"))
        assert (e.value.status, e.value.code) == (422, "ERR_VALIDATION_FAILED")


def test_cancel_and_a_wait_that_times_out(dev):
    url, key = dev
    with Client(url, key) as aos:
        run = aos.submit(quote_run(url, delay_ms=3000))
        t = time.monotonic()
        waited = aos.wait(run.id, timeout=0.3)
        assert waited.status.value in ("queued", "running"), waited.status
        assert time.monotonic() - t < 5
        assert aos.cancel(run.id).status.value == "cancelled"


FLOW = """name: py-flow-{n}
nodes:
  - id: a
    skill: json_transform
    input: {{expression: n, data: {{n: 2}}}}
  - id: ok
    type: approval
    depends_on: [a]
    prompt: Go on?
    timeout_s: 600
  - id: b
    skill: json_transform
    depends_on: [ok]
    input: {{expression: v, data: {{v: done}}}}
"""


def test_a_workflow_with_an_approval_from_apply_to_its_end(dev):
    url, key = dev
    name = f"py-flow-{uuid.uuid4().hex[:8]}"
    spec = FLOW.format(n=name.removeprefix("py-flow-"))
    with Client(url, key) as aos:
        wf = aos.apply_workflow(spec)
        assert (wf.name, wf.version) == (name, 1)
        assert aos.apply_workflow(spec).version == 1, "the same spec stores nothing new"
        with pytest.raises(AosError) as e:
            aos.apply_workflow("name: x\nnodes: []\n")
        assert e.value.status == 422
        exe = aos.start(name, input={"who": "py"})
        deadline = time.monotonic() + 20
        while not (pending := [a for a in aos.approvals(status="pending").approvals if a.execution_id == exe.id]):
            assert time.monotonic() < deadline, "no approval appeared"
            time.sleep(0.05)
        assert not aos.wait_execution(exe.id, timeout=0.2).finished
        assert aos.approve(pending[0].id, comment="fine").status.value == "approved"
        with pytest.raises(AosError) as e:
            aos.reject(pending[0].id)
        assert e.value.code == "ERR_APPROVAL_NOT_PENDING"
        events = list(aos.stream_execution(exe.id))
        assert [e.id for e in events if e.name == "node" and e.id] == ["a", "ok", "b"]
        assert events[-1].name == "execution" and events[-1].data.finished
        done = aos.wait_execution(exe.id, timeout=10)
        assert done.finished and done.status.value == "succeeded", done


def test_the_generated_functions_reach_every_other_route(dev):
    url, key = dev
    with Client(url, key) as aos:
        skills = skills_list.sync(client=aos.api)
        assert "json_transform" in [s.name for s in skills.skills]


async def test_the_async_client_submits_waits_and_streams(dev):
    url, key = dev
    async with AsyncClient(url, key) as aos:
        done = await aos.submit_and_wait(quote_run(url), timeout=30)
        assert done.status.value == "succeeded"
        assert done.steps_done == 2
        run = await aos.submit(quote_run(url, delay_ms=200))
        names = [e.name async for e in aos.stream(run.id)]
        assert names[-1] == "run" and names.count("step") >= 2
        with pytest.raises(AosError) as e:
            await aos.get("run_nope")
        assert e.value.code == "ERR_NOT_FOUND"


def test_the_quickstart_example_script_runs(dev):
    import os
    import subprocess
    import sys

    url, key = dev
    script = pathlib.Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
    env = dict(os.environ, AOS_URL=url, AOS_API_KEY=key)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "step 3 (http_call) succeeded with its checkpoint" in out.stdout, out.stdout
    assert "run succeeded:" in out.stdout, out.stdout
