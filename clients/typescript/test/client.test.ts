// The TypeScript client against a real `aos dev` (AOS_BIN, by default the workspace's
// target/debug/aos) on a free loopback port with a fresh data directory.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AosError, Client, isFinished, type RunEvent, type SubmitRun } from "../src/index.js";

const ROOT = resolve(import.meta.dirname, "../../../..");
let dev: ChildProcess;
let data = "";
let url = "";
let key = "";

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

before(async () => {
  const binary = process.env.AOS_BIN ?? join(ROOT, "target/debug/aos");
  const port = await freePort();
  data = mkdtempSync(join(tmpdir(), "aos-ts-"));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("AOS_") && !k.startsWith("AWS_")) env[k] = v;
  }
  Object.assign(env, { AOS_PORT: String(port), AOS_DATA_DIR: data, AOS_LOG: "warn" });
  dev = spawn(binary, ["dev"], { env, stdio: "ignore" });
  url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (dev.exitCode !== null || Date.now() > deadline) throw new Error(`aos dev (${binary}) did not start on ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  key = readFileSync(join(data, "dev-api-key"), "utf8").trim();
});

after(async () => {
  if (dev && dev.exitCode === null && dev.signalCode === null) {
    const exited = once(dev, "exit");
    dev.kill();
    await exited;
  }
  if (data) rmSync(data, { recursive: true, force: true });
});

function quoteRun(delayMs = 0): SubmitRun {
  return {
    input: { symbol: "TS" },
    plan: [
      {
        id: "fetch",
        skill: "http_call",
        input: { url: `${url}/demo/quote?symbol=\${input.symbol}&delay_ms=${delayMs}` },
      },
      { id: "pick", skill: "json_transform", input: { expression: "symbol", data: "${steps.fetch.output.body}" } },
    ],
  } as SubmitRun;
}

async function collect<T>(events: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of events) out.push(e);
  return out;
}

async function refusal(p: Promise<unknown>): Promise<AosError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AosError, `an AosError, got ${e}`);
    return e;
  }
  assert.fail("the call was not refused");
}

test("the quickstart example submits and waits in one call", async () => {
  const aos = new Client(url, key);
  const run = JSON.parse(readFileSync(join(ROOT, "examples/quickstart.json"), "utf8"));
  run.input.base_url = url;
  const done = await aos.submitAndWait(run, 30_000);
  assert.equal(done.status, "succeeded");
  assert.equal(done.steps_done, 4);
  const steps = await aos.steps(done.id);
  assert.ok(steps.chain_valid);
  assert.ok(steps.steps.every((s) => isFinished(s)));
  assert.equal((await aos.get(done.id)).id, done.id);
  assert.ok((await aos.listRuns({ status: "succeeded" })).runs.some((r) => r.id === done.id));
});

test("errors carry the status and the stable code", async () => {
  const aos = new Client(url, key);
  let e = await refusal(aos.get("run_nope"));
  assert.deepEqual([e.status, e.code], [404, "ERR_NOT_FOUND"]);
  e = await refusal(aos.submit({ plan: [{ id: "x", skill: "no_such_skill", input: {} }] } as SubmitRun));
  assert.deepEqual([e.status, e.code], [422, "ERR_SKILL_NOT_FOUND"]);
  assert.match(e.message, /no_such_skill/);
  e = await refusal(new Client(url, "aos_not_a_key").listRuns());
  assert.equal(e.status, 401);
  const k = `ts-${Date.now()}`;
  const first = await aos.submit(quoteRun(), { idempotencyKey: k });
  assert.equal((await aos.submit(quoteRun(), { idempotencyKey: k })).id, first.id);
  e = await refusal(aos.submit({ ...quoteRun(), input: { symbol: "OTHER" } }, { idempotencyKey: k }));
  assert.deepEqual([e.status, e.code], [409, "ERR_IDEMPOTENCY_CONFLICT"]);
});

test("stream gives each step then the run and resumes after an id", async () => {
  const aos = new Client(url, key);
  const run = await aos.submit(quoteRun(300));
  const events: RunEvent[] = await collect(aos.stream(run.id));
  const finished = events.filter((e) => e.name === "step" && isFinished(e.data)).map((e) => e.id);
  assert.deepEqual(finished, ["0", "1"]);
  assert.ok(events.some((e) => e.name === "step" && !isFinished(e.data)), "the slow step was seen running");
  const last = events[events.length - 1];
  assert.ok(last.name === "run" && last.data.status === "succeeded");
  const resumed = await collect(aos.stream(run.id, "0"));
  assert.deepEqual(resumed.map((e) => e.id), ["1", undefined]);
  const e = await refusal(collect(aos.stream(run.id, "9")));
  assert.deepEqual([e.status, e.code], [422, "ERR_VALIDATION_FAILED"]);
});

test("cancel, and a wait that gives up at its timeout", async () => {
  const aos = new Client(url, key);
  const run = await aos.submit(quoteRun(3000));
  const waited = await aos.wait(run.id, 300);
  assert.ok(["queued", "running"].includes(waited.status), waited.status);
  assert.equal((await aos.cancel(run.id)).status, "cancelled");
});

test("a workflow with an approval from apply to its end", async () => {
  const aos = new Client(url, key);
  const name = `ts-flow-${Date.now()}`;
  const spec = `name: ${name}
nodes:
  - id: a
    skill: json_transform
    input: {expression: n, data: {n: 2}}
  - id: ok
    type: approval
    depends_on: [a]
    prompt: Go on?
    timeout_s: 600
  - id: b
    skill: json_transform
    depends_on: [ok]
    input: {expression: v, data: {v: done}}
`;
  const wf = await aos.applyWorkflow(spec);
  assert.deepEqual([wf.name, wf.version], [name, 1]);
  assert.equal((await aos.applyWorkflow(spec)).version, 1, "the same spec stores nothing new");
  assert.equal((await refusal(aos.applyWorkflow("name: x\nnodes: []\n"))).status, 422);
  const exe = await aos.start(name, { input: { who: "ts" } });
  const deadline = Date.now() + 20_000;
  let approval: string | undefined;
  while (!approval) {
    approval = (await aos.approvals("pending")).approvals.find((a) => a.execution_id === exe.id)?.id;
    assert.ok(Date.now() < deadline, "no approval appeared");
    if (!approval) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await aos.waitExecution(exe.id, 200)).finished, false);
  assert.equal((await aos.approve(approval, "fine")).status, "approved");
  assert.equal((await refusal(aos.reject(approval))).code, "ERR_APPROVAL_NOT_PENDING");
  const events = await collect(aos.streamExecution(exe.id));
  assert.deepEqual(events.filter((e) => e.name === "node" && e.id).map((e) => e.id), ["a", "ok", "b"]);
  const end = events[events.length - 1];
  assert.ok(end.name === "execution" && end.data.finished);
  const done = await aos.waitExecution(exe.id, 10_000);
  assert.equal(done.status, "succeeded");
});

test("the generated client reaches every other route", async () => {
  const aos = new Client(url, key);
  const { data } = await aos.api.GET("/v1/skills");
  assert.ok(data?.skills.some((s) => s.name === "json_transform"));
});

test("the quickstart example runs", async () => {
  const script = join(import.meta.dirname, "../examples/quickstart.js");
  const out = await new Promise<string>((done, fail) => {
    execFile(process.execPath, [script], { env: { ...process.env, AOS_URL: url, AOS_API_KEY: key }, timeout: 60_000 }, (err, stdout, stderr) =>
      err ? fail(new Error(`${err.message}\n${stderr}`)) : done(stdout),
    );
  });
  assert.match(out, /step 3 \(http_call\) succeeded with its checkpoint/);
  assert.match(out, /run succeeded: /);
});
