// Submits examples/quickstart.json to an `aos dev`, follows it step by step, prints the
// output.
//
//   cargo run --bin aos -- dev &
//   cd clients/typescript && npm run build
//   AOS_URL=http://127.0.0.1:8787 AOS_API_KEY=$(cat ../../aos-data/dev-api-key) node dist/examples/quickstart.js

import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AosError, Client, isFinished, type SubmitRun } from "../src/index.js";

const url = process.env.AOS_URL ?? "http://127.0.0.1:8787";
const key = process.env.AOS_API_KEY;
if (!key) {
  console.error("set AOS_API_KEY (aos dev writes it to aos-data/dev-api-key)");
  process.exit(2);
}
const root = resolve(import.meta.dirname, "../../../..");
const run = JSON.parse(readFileSync(join(root, "examples/quickstart.json"), "utf8")) as SubmitRun & {
  input: Record<string, unknown>;
};
run.input.base_url = url; // the demo service of this aos dev

const aos = new Client(url, key);
try {
  const submitted = await aos.submit(run);
  console.log(`run ${submitted.id} submitted`);
  for await (const event of aos.stream(submitted.id)) {
    if (event.name === "step") {
      const s = event.data;
      console.log(`step ${s.step_index} (${s.skill}) ${s.status}${isFinished(s) ? " with its checkpoint" : ""}`);
    } else {
      console.log(`run ${event.data.status}: ${JSON.stringify(event.data.output)}`);
    }
  }
} catch (e) {
  if (e instanceof AosError) {
    console.error(`refused: ${e.status} ${e.code}: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
