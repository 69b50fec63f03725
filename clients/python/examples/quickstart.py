"""Submits examples/quickstart.json to an `aos dev`, follows it step by step, prints the
output.

    cargo run --bin aos -- dev &
    AOS_URL=http://127.0.0.1:8787 AOS_API_KEY=$(cat aos-data/dev-api-key) \
        python clients/python/examples/quickstart.py
"""

import json
import os
import pathlib
import sys

from aos_client import AosError, Client
from aos_client.models import FinishedStep

url = os.environ.get("AOS_URL", "http://127.0.0.1:8787")
key = os.environ.get("AOS_API_KEY") or sys.exit("set AOS_API_KEY (aos dev writes it to aos-data/dev-api-key)")
run = json.loads((pathlib.Path(__file__).resolve().parents[3] / "examples" / "quickstart.json").read_text())
run["input"]["base_url"] = url  # the demo service of this aos dev

with Client(url, key) as aos:
    try:
        submitted = aos.submit(run)
    except AosError as e:
        sys.exit(f"refused: {e.status} {e.code}: {e.message}")
    print(f"run {submitted.id} submitted")
    for event in aos.stream(submitted.id):
        if event.name == "step":
            step = event.data
            state = step.status.value
            print(f"step {step.step_index} ({step.skill}) {state}" + (" with its checkpoint" if isinstance(step, FinishedStep) else ""))
        else:
            print(f"run {event.data.status.value}: {json.dumps(event.data.output)}")
