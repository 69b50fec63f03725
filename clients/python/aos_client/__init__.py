"""The Python client of the AOS API.

``aos_client.generated`` is made from AOS's OpenAPI document (docs/openapi.json) by
openapi-python-client: a function per route and a model per schema. This module is the
thin layer people use: :class:`Client` and :class:`AsyncClient` with ``submit``,
``submit_and_wait``, ``get``, ``wait``, ``stream``, ``cancel``, workflows and approvals,
and :class:`AosError` carrying the HTTP status and the stable error code.

    from aos_client import Client
    aos = Client("http://127.0.0.1:8787", api_key)
    run = aos.submit_and_wait({"plan": [...], "input": {...}}, timeout=60)
    print(run.status, run.output)
"""

from __future__ import annotations

from ._core import WAIT_SLICE, AosError, Event
from ._sync import Client
from ._async import AsyncClient
from . import models

__all__ = ["AosError", "AsyncClient", "Client", "Event", "WAIT_SLICE", "models"]
