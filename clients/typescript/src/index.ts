/**
 * The TypeScript client of the AOS API.
 *
 * `schema.d.ts` is generated from AOS's OpenAPI document (docs/openapi.json) by
 * openapi-typescript; `client.api` is an openapi-fetch client typed by it, for every
 * route. This module is the thin layer on top: submit, wait, stream, cancel, workflows
 * and approvals, and `AosError` carrying the HTTP status and the stable error code.
 */

import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
export type RunView = Schemas["RunView"];
export type RunList = Schemas["RunList"];
export type StepsView = Schemas["StepsView"];
export type FinishedStep = Schemas["FinishedStep"];
export type UnfinishedStep = Schemas["UnfinishedStep"];
export type SubmitRun = Schemas["SubmitRun"];
export type StartExecution = Schemas["StartExecution"];
export type WorkflowView = Schemas["WorkflowView"];
export type ExecutionView = Schemas["ExecutionView"];
export type NodeView = Schemas["NodeView"];
export type CompensationState = Schemas["CompensationState"];
export type ApprovalView = Schemas["ApprovalView"];
export type ApprovalList = Schemas["ApprovalList"];
export type ErrorCode = Schemas["ErrorCode"];
export type RunStatus = Schemas["RunStatus"];
export type { components, paths };

/** The longest single `?wait=` a client asks for: under API Gateway's 29 s integration
 * timeout (AOS caps it at 25 s there), so a longer wait is several calls. */
export const WAIT_SLICE_MS = 25_000;

const TERMINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"]);

/** AOS refused a call: the HTTP status, the stable code (`ERR_…`, docs/error-codes.md),
 * the message that says what to fix, the node it is about and, for a 429 or 503, how
 * many seconds to wait. */
export class AosError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "ERR_UNKNOWN" | string,
    message: string,
    readonly node?: string,
    readonly retryAfter?: number,
  ) {
    super(`${status} ${code}${node ? ` (node ${node})` : ""}: ${message}`);
    this.name = "AosError";
  }
}

/** One event of a stream: `step` / `run`, or `node` / `compensation` / `execution`;
 * `id` is what resuming after this event takes (`undefined` for something still under way). */
export type RunEvent =
  | { name: "step"; id?: string; data: FinishedStep | UnfinishedStep }
  | { name: "run"; id?: string; data: RunView };
export type ExecutionEvent =
  | { name: "node"; id?: string; data: NodeView }
  | { name: "compensation"; id?: string; data: CompensationState }
  | { name: "execution"; id?: string; data: ExecutionView };

/** Whether a step event's data is a finished step (with its checkpoint). */
export function isFinished(step: FinishedStep | UnfinishedStep): step is FinishedStep {
  return "hash" in step;
}

function errorOf(status: number, headers: Headers, body: unknown): AosError {
  const retry = headers.get("retry-after");
  const retryAfter = retry && /^\d+$/.test(retry.trim()) ? Number(retry) : undefined;
  const e = (body as { error?: { code?: unknown; message?: unknown; node?: unknown } } | undefined)?.error;
  if (e && typeof e.code === "string" && typeof e.message === "string") {
    return new AosError(status, e.code, e.message, typeof e.node === "string" ? e.node : undefined, retryAfter);
  }
  return new AosError(status, "ERR_UNKNOWN", `AOS answered ${status} with a body that is not an AOS error`);
}

function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.ok && r.data !== undefined) return r.data;
  throw errorOf(r.response.status, r.response.headers, r.error);
}

function waitParam(ms: number): string {
  return `${Math.max(1, Math.floor(ms))}ms`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Options of a submission or an execution start. */
export interface SubmitOptions {
  /** Makes a retry answer the first call's record and create nothing. */
  idempotencyKey?: string;
  /** Answer once it has finished or after this long (at most 25 s a call). */
  waitMs?: number;
}

/** A client of one AOS deployment as one API key. */
export class Client {
  /** The generated client (openapi-fetch), for the routes this layer has no method for. */
  readonly api: ReturnType<typeof createClient<paths>>;
  readonly url: string;
  readonly #auth: string;

  constructor(url: string, apiKey: string) {
    this.url = url.replace(/\/+$/, "");
    this.#auth = `Bearer ${apiKey.trim()}`;
    this.api = createClient<paths>({ baseUrl: this.url, headers: { Authorization: this.#auth } });
  }

  // ---- runs ----

  /** Submits a run (`POST /v1/runs`): a plan or a goal. */
  async submit(run: SubmitRun, opts: SubmitOptions = {}): Promise<RunView> {
    const wait = opts.waitMs === undefined ? undefined : waitParam(Math.min(opts.waitMs, WAIT_SLICE_MS));
    const header = opts.idempotencyKey === undefined ? undefined : { "Idempotency-Key": opts.idempotencyKey };
    return unwrap(await this.api.POST("/v1/runs", { body: run, params: { query: { wait }, header } }));
  }

  /** Submits a run and waits until it has finished or `timeoutMs` has passed (its
   * status says which): one `POST ?wait=`, then `GET ?wait=` calls. */
  async submitAndWait(run: SubmitRun, timeoutMs = 60_000, opts: { idempotencyKey?: string } = {}): Promise<RunView> {
    const start = Date.now();
    const first = await this.submit(run, { ...opts, waitMs: Math.min(timeoutMs, WAIT_SLICE_MS) });
    if (TERMINAL.has(first.status)) return first;
    return this.wait(first.id, Math.max(0, timeoutMs - (Date.now() - start)));
  }

  /** A run. */
  async get(id: string): Promise<RunView> {
    return unwrap(await this.api.GET("/v1/runs/{id}", { params: { path: { id } } }));
  }

  /** Waits until the run has finished or `timeoutMs` has passed, in `?wait=` slices. */
  async wait(id: string, timeoutMs = 60_000): Promise<RunView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = Math.min(Math.max(0, deadline - Date.now()), WAIT_SLICE_MS);
      const run = unwrap(
        await this.api.GET("/v1/runs/{id}", { params: { path: { id }, query: { wait: waitParam(left) } } }),
      );
      if (TERMINAL.has(run.status) || Date.now() >= deadline) return run;
    }
  }

  /** A run's steps and whether its checkpoint chain verifies. */
  async steps(id: string): Promise<StepsView> {
    return unwrap(await this.api.GET("/v1/runs/{id}/steps", { params: { path: { id } } }));
  }

  /** A page of runs, newest first. */
  async listRuns(query: { status?: RunStatus; limit?: number; before?: string } = {}): Promise<RunList> {
    return unwrap(await this.api.GET("/v1/runs", { params: { query } }));
  }

  /** Cancels a run (its agent children too). */
  async cancel(id: string): Promise<RunView> {
    return unwrap(await this.api.POST("/v1/runs/{id}/cancel", { params: { path: { id } } }));
  }

  /** The run's events: `step` as each step changes (a finished step's index is the
   * id), then `run` at its end. Re-opened after the last id when the server closes it
   * early (API Gateway: 25 s), so no finished step is missed or repeated. */
  stream(id: string, lastEventId?: string): AsyncGenerator<RunEvent> {
    return this.#follow(`/v1/runs/${encodeURIComponent(id)}/events`, lastEventId, "run") as AsyncGenerator<RunEvent>;
  }

  // ---- workflows ----

  /** Validates and stores a workflow spec (YAML or JSON text, or an object) as its next
   * version; the same spec again stores nothing. */
  async applyWorkflow(spec: string | object, format: "yaml" | "json" = "yaml"): Promise<WorkflowView> {
    const body = typeof spec === "string" ? spec : JSON.stringify(spec);
    const media = typeof spec === "string" ? `application/${format}` : "application/json";
    const resp = await fetch(`${this.url}/v1/workflows`, {
      method: "POST",
      headers: { Authorization: this.#auth, "Content-Type": media },
      body,
    });
    const answer: unknown = await resp.json().catch(() => undefined);
    if (!resp.ok) throw errorOf(resp.status, resp.headers, answer);
    return answer as WorkflowView;
  }

  /** A workflow version (the latest by default). */
  async workflow(name: string, version?: number): Promise<WorkflowView> {
    return unwrap(await this.api.GET("/v1/workflows/{name}", { params: { path: { name }, query: { version } } }));
  }

  /** Starts an execution of a workflow. */
  async start(workflow: string, body: StartExecution = {}, opts: SubmitOptions = {}): Promise<ExecutionView> {
    const header = opts.idempotencyKey === undefined ? undefined : { "Idempotency-Key": opts.idempotencyKey };
    return unwrap(
      await this.api.POST("/v1/workflows/{name}/executions", { body, params: { path: { name: workflow }, header } }),
    );
  }

  /** An execution with its nodes. */
  async execution(id: string): Promise<ExecutionView> {
    return unwrap(await this.api.GET("/v1/executions/{id}", { params: { path: { id } } }));
  }

  /** Waits until the execution has ended or `timeoutMs` has passed (`finished` says which). */
  async waitExecution(id: string, timeoutMs = 60_000): Promise<ExecutionView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = Math.min(Math.max(0, deadline - Date.now()), WAIT_SLICE_MS);
      const e = unwrap(
        await this.api.GET("/v1/executions/{id}", { params: { path: { id }, query: { wait: waitParam(left) } } }),
      );
      if (e.finished || Date.now() >= deadline) return e;
    }
  }

  /** Cancels an execution. */
  async cancelExecution(id: string): Promise<ExecutionView> {
    return unwrap(await this.api.POST("/v1/executions/{id}/cancel", { params: { path: { id } } }));
  }

  /** The execution's events: `node` as nodes change, `compensation` as they run, then
   * `execution` at its end; re-opened after the last id when closed early. */
  streamExecution(id: string, lastEventId?: string): AsyncGenerator<ExecutionEvent> {
    const path = `/v1/executions/${encodeURIComponent(id)}/events`;
    return this.#follow(path, lastEventId, "execution") as AsyncGenerator<ExecutionEvent>;
  }

  // ---- approvals ----

  /** Approvals, newest first (only `status` ones when given). */
  async approvals(status?: Schemas["ApprovalStatus"]): Promise<ApprovalList> {
    return unwrap(await this.api.GET("/v1/approvals", { params: { query: { status } } }));
  }

  /** Approves a pending approval. */
  approve(id: string, comment?: string): Promise<ApprovalView> {
    return this.#decide(id, "approve", comment);
  }

  /** Rejects a pending approval. */
  reject(id: string, comment?: string): Promise<ApprovalView> {
    return this.#decide(id, "reject", comment);
  }

  async #decide(id: string, decision: string, comment?: string): Promise<ApprovalView> {
    return unwrap(
      await this.api.POST("/v1/approvals/{id}/decision", { params: { path: { id } }, body: { decision, comment } }),
    );
  }

  // ---- streams ----

  async *#follow(
    path: string,
    lastEventId: string | undefined,
    last: string,
  ): AsyncGenerator<{ name: string; id?: string; data: unknown }> {
    let after = lastEventId;
    for (;;) {
      const headers: Record<string, string> = { Authorization: this.#auth, Accept: "text/event-stream" };
      if (after !== undefined) headers["Last-Event-ID"] = after;
      const resp = await fetch(`${this.url}${path}`, { headers });
      if (!resp.ok || !resp.body) {
        throw errorOf(resp.status, resp.headers, await resp.json().catch(() => undefined));
      }
      for await (const event of sse(resp.body)) {
        if (event.id !== undefined) after = event.id;
        yield event;
        if (event.name === last) return;
      }
      await sleep(200); // closed before the end (a gateway's cap): open it again after `after`
    }
  }
}

/** The events of a Server-Sent Events body, with their data parsed as JSON. */
async function* sse(body: ReadableStream<Uint8Array>): AsyncGenerator<{ name: string; id?: string; data: unknown }> {
  const decoder = new TextDecoder();
  let buffer = "";
  let name = "";
  let id: string | undefined;
  let data: string[] = [];
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
      if (buffer[end] === "\r" && end === buffer.length - 1) break; // maybe half of a \r\n
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
      if (line === "") {
        if (data.length > 0) yield { name: name || "message", id, data: JSON.parse(data.join("\n")) };
        name = "";
        id = undefined;
        data = [];
        continue;
      }
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "id") id = value;
      else if (field === "data") data.push(value);
    }
  }
}
