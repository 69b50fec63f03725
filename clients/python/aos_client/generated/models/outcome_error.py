from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.error_category import ErrorCategory
from ..models.error_code import ErrorCode
from ..types import UNSET, Unset






T = TypeVar("T", bound="OutcomeError")



@_attrs_define
class OutcomeError:
    """ The error half of an outcome.

        Attributes:
            code (ErrorCode): A stable AOS error code (the HTTP status the API answers it with):

                - `ERR_HTTP_TIMEOUT` (504): The upstream did not answer within the step's timeout. Retried with back-off; raise
                `timeout_ms` if the upstream is slow.
                - `ERR_HTTP_4XX` (502): The upstream answered with a 4xx status not listed separately. Fix the request (url,
                headers, body).
                - `ERR_HTTP_400` (502): The upstream rejected the request as malformed (400). Fix the request body or
                parameters.
                - `ERR_HTTP_401` (502): The upstream needs credentials (401). Configure the secret the step uses.
                - `ERR_HTTP_403` (502): The upstream refused the credentials (403). Check the key's permissions.
                - `ERR_HTTP_404` (502): The upstream resource does not exist (404). Check the url.
                - `ERR_HTTP_429` (502): The upstream throttled the call (429). Retried after its Retry-After or back-off.
                - `ERR_RATE_LIMIT_INTERNAL` (429): AOS's own rate limit for the tenant was reached. Slow down or raise the
                tenant's limit.
                - `ERR_RATE_LIMIT_CONCURRENT` (429): Too many concurrent runs for the tenant. Wait for running ones to finish.
                - `ERR_HTTP_5XX` (502): The upstream failed with a 5xx status not listed separately. Retried with back-off.
                - `ERR_HTTP_500` (502): The upstream failed (500). Retried with back-off.
                - `ERR_HTTP_502` (502): The upstream's gateway failed (502). Retried with back-off.
                - `ERR_HTTP_503` (502): The upstream is unavailable (503). Retried with back-off.
                - `ERR_HTTP_504` (502): The upstream's gateway timed out (504). Retried with back-off.
                - `ERR_DNS_FAILURE` (502): The host name did not resolve. Check the url's host.
                - `ERR_CONNECTION_REFUSED` (502): The upstream refused or dropped the connection. Check that it is running.
                - `ERR_SSL_ERROR` (502): TLS failed (certificate or protocol). Fix the upstream's certificate.
                - `ERR_LLM_RATE_LIMIT` (502): The model provider throttled the call. Retried after back-off.
                - `ERR_LLM_INVALID_RESPONSE` (502): The model's reply was not usable (not JSON or not matching the schema).
                - `ERR_LLM_CONTEXT_LENGTH` (422): The prompt exceeds the model's context window. Shorten it.
                - `ERR_LLM_CONTENT_FILTER` (422): The provider's content filter blocked the request or reply.
                - `ERR_LLM_API_ERROR` (502): The model provider failed. Retried with back-off.
                - `ERR_VALIDATION_FAILED` (422): Input failed validation. The message names the field to fix.
                - `ERR_SCHEMA_MISMATCH` (422): A skill's output did not match its declared output schema.
                - `ERR_POLICY_VIOLATION` (403): A policy refused the step. See the policy named in the message.
                - `ERR_BUDGET_EXCEEDED` (402): The run's or tenant's credit budget would be exceeded.
                - `ERR_QUOTA_EXCEEDED` (429): A tenant quota was reached.
                - `ERR_PERMISSION_DENIED` (403): The API key's role does not allow this operation.
                - `ERR_SAFETY_REJECTED` (422): A safety check refused the content.
                - `ERR_PROMPT_INJECTION` (422): The input looks like a prompt-injection attempt.
                - `ERR_INTERNAL` (500): An internal error; the cause is logged server-side. Retried by the step loop.
                - `ERR_STORAGE_QUOTA_EXCEEDED` (507): The store is out of space or over its quota.
                - `ERR_SKILL_NOT_FOUND` (422): No skill with that name (and version) is registered. See GET /v1/skills.
                - `ERR_SKILL_DISABLED` (403): The skill exists but is disabled for this tenant.
                - `ERR_SERIALIZATION_FAILED` (422): A value could not be serialized to JSON.
                - `ERR_DESERIALIZATION_FAILED` (422): A value could not be parsed (for example a response declared JSON that is
                not).
                - `ERR_TIMEOUT` (504): The step exceeded its timeout. Retried; raise the step's `timeout_ms` if needed.
                - `ERR_UNKNOWN` (500): An error AOS could not classify. Report it with the run id.
                - `ERR_BLOCKED_ADDRESS` (422): The url resolves to a loopback, private, link-local or metadata address. An
                operator may allow a host with AOS_HTTP_ALLOW_HOSTS.
                - `ERR_INVALID_URL` (422): The url is not an absolute http(s) url.
                - `ERR_RESPONSE_TOO_LARGE` (422): The upstream response exceeds the step's `max_response_bytes` cap.
                - `ERR_JSON_TRANSFORM_FAILED` (422): The JMESPath expression is invalid or failed on the input.
                - `ERR_UNRESOLVED_REFERENCE` (422): A `${...}` reference in a step input names nothing (unknown step, missing
                field).
                - `ERR_EFFECT_UNCERTAIN` (500): A non-idempotent step was interrupted after it may have had its effect; AOS does
                not run it twice. Check the target, then resubmit.
                - `ERR_ATTEMPTS_EXHAUSTED` (500): The step failed on every allowed attempt; the last outcome is recorded.
                - `ERR_RUN_CANCELLED` (409): The run was cancelled; no further steps run.
                - `ERR_VALUE_TOO_LARGE` (422): A step's output or an agent's plan exceeds the per-value cap (16 MiB of JSON).
                Ask the upstream for less (`max_response_bytes`, a JMESPath projection) or split the work over steps.
                - `ERR_SECRET_NOT_FOUND` (422): A secret the step needs does not exist for the run's tenant. Set it with `PUT
                /v1/secrets/{name}`; provider keys are the operator's (secrets file, environment or Secrets Manager).
                - `ERR_MALFORMED_REQUEST` (400): The request body is not valid JSON or misses required fields. The message says
                where.
                - `ERR_PAYLOAD_TOO_LARGE` (413): The request body exceeds the size limit.
                - `ERR_UNSUPPORTED_MEDIA_TYPE` (415): Send the body as `Content-Type: application/json`.
                - `ERR_UNAUTHENTICATED` (401): No valid API key. Send `Authorization: Bearer <key>` or `x-api-key: <key>`.
                - `ERR_NOT_FOUND` (404): No such resource for this tenant.
                - `ERR_INVALID_PLAN` (422): The plan is invalid (empty, duplicate step ids, bad references). The message names
                the step.
                - `ERR_IDEMPOTENCY_CONFLICT` (409): The Idempotency-Key was already used with a different request body. Use a
                new key.
                - `ERR_IDEMPOTENCY_IN_PROGRESS` (409): A request with this Idempotency-Key is still being processed. Retry
                shortly.
                - `ERR_INVALID_WORKFLOW` (422): The workflow spec is invalid (cycle, unknown node or skill, bad input,
                unreachable node). The message names the node and what to fix.
                - `ERR_APPROVAL_REJECTED` (409): A human rejected the approval: the step a policy held back fails, or the
                workflow fails and its completed nodes are compensated.
                - `ERR_APPROVAL_TIMED_OUT` (408): Nobody decided the approval before its timeout (and its escalation's, when a
                policy gives one), or the approval node has no `on_timeout` path.
                - `ERR_APPROVAL_NOT_PENDING` (409): The approval was already decided, timed out or cancelled; nothing was
                changed.
                - `ERR_CIRCUIT_OPEN` (503): The skill's target failed 5 times in a row, so calls to it pause for 60 s (circuit
                breaker); the step is retried after the cooldown, when one probe call decides whether the target is back.
                - `ERR_FEATURE_UNAVAILABLE` (501): This deployment does not offer the feature (yet); the message says which
                backend does.
                - `ERR_EXECUTION_CANCELLED` (409): The workflow execution was cancelled; no further nodes run.
                - `ERR_PLANNER_INVALID_PLAN` (502): The planner's model kept answering with steps that are not valid JSON or do
                not match the skills' schemas, after being shown the error twice. The last error is in the details; try a
                stronger model or narrow `agent.skills`.
                - `ERR_AGENT_STEP_LIMIT` (422): The agent used all its `agent.max_steps` skill steps without finishing. Raise
                the limit or make the goal narrower.
                - `ERR_AGENT_LLM_BUDGET` (402): The agent's planner used all its `agent.max_llm_calls` model calls without
                finishing. Raise the budget or make the goal narrower.
                - `ERR_AGENT_DEPTH_EXCEEDED` (422): A child run would be nested deeper than the deployment allows (default 3
                levels); nothing was started.
                - `ERR_AGENT_FAN_OUT_EXCEEDED` (422): A step would start more child runs than allowed (default 10 per step, 50
                per run); nothing was started.
                - `ERR_AGENT_CHILD_FAILED` (422): The child run of `agent_invoke` failed, was cancelled or timed out; its error
                is in the details.
                - `ERR_REPLAY_EXHAUSTED` (422): The replay planner ran out of recorded decisions: the recorded run made fewer
                planner decisions than this run asks for (or it is not an agent run).
                - `ERR_ILLEGAL_TRANSITION` (409): The resource is in a state that does not allow this (for example cancelling a
                finished run).
            category (ErrorCategory): Broad class of a failure; drives default retry behaviour and dashboards.
            retryable (bool): Whether the step loop may try again.
            message (str): Human-readable explanation; not part of any hash.
            details (Any | Unset): Structured hints such as `upstream_status` or `retry_after_ms`; not hashed.
     """

    code: ErrorCode
    category: ErrorCategory
    retryable: bool
    message: str
    details: Any | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        code = self.code.value

        category = self.category.value

        retryable = self.retryable

        message = self.message

        details = self.details


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "code": code,
            "category": category,
            "retryable": retryable,
            "message": message,
        })
        if details is not UNSET:
            field_dict["details"] = details

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = ErrorCode(d.pop("code"))




        category = ErrorCategory(d.pop("category"))




        retryable = d.pop("retryable")

        message = d.pop("message")

        details = d.pop("details", UNSET)

        outcome_error = cls(
            code=code,
            category=category,
            retryable=retryable,
            message=message,
            details=details,
        )


        outcome_error.additional_properties = d
        return outcome_error

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
