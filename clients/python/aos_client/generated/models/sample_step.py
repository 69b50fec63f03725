from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="SampleStep")



@_attrs_define
class SampleStep:
    """ The body of `POST /v1/policies/evaluate`: a sample step (`skill`, …) or a sample API
    request (`operation`, `role`).

        Attributes:
            skill (str | Unset):
            operation (None | str | Unset): An API operation (`secrets.put`) instead of a step.
            role (None | str | Unset): With `operation`: the calling key's role (default: the caller's).
            input_ (Any | Unset):
            kind (None | str | Unset):
            depth (int | Unset):
            agent (bool | Unset):
            workflow (str | Unset):
            spent_cents (int | Unset):
            estimated_cents (int | Unset):
            plan (None | str | Unset):
            at_ms (int | None | Unset): When the step would run (default: now).
            policies (None | str | Unset): Policies to judge by instead of the tenant's current ones (nothing is stored).
            default_deny (bool | Unset): With `policies`: deny by default.
     """

    skill: str | Unset = UNSET
    operation: None | str | Unset = UNSET
    role: None | str | Unset = UNSET
    input_: Any | Unset = UNSET
    kind: None | str | Unset = UNSET
    depth: int | Unset = UNSET
    agent: bool | Unset = UNSET
    workflow: str | Unset = UNSET
    spent_cents: int | Unset = UNSET
    estimated_cents: int | Unset = UNSET
    plan: None | str | Unset = UNSET
    at_ms: int | None | Unset = UNSET
    policies: None | str | Unset = UNSET
    default_deny: bool | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        skill = self.skill

        operation: None | str | Unset
        if isinstance(self.operation, Unset):
            operation = UNSET
        else:
            operation = self.operation

        role: None | str | Unset
        if isinstance(self.role, Unset):
            role = UNSET
        else:
            role = self.role

        input_ = self.input_

        kind: None | str | Unset
        if isinstance(self.kind, Unset):
            kind = UNSET
        else:
            kind = self.kind

        depth = self.depth

        agent = self.agent

        workflow = self.workflow

        spent_cents = self.spent_cents

        estimated_cents = self.estimated_cents

        plan: None | str | Unset
        if isinstance(self.plan, Unset):
            plan = UNSET
        else:
            plan = self.plan

        at_ms: int | None | Unset
        if isinstance(self.at_ms, Unset):
            at_ms = UNSET
        else:
            at_ms = self.at_ms

        policies: None | str | Unset
        if isinstance(self.policies, Unset):
            policies = UNSET
        else:
            policies = self.policies

        default_deny = self.default_deny


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if skill is not UNSET:
            field_dict["skill"] = skill
        if operation is not UNSET:
            field_dict["operation"] = operation
        if role is not UNSET:
            field_dict["role"] = role
        if input_ is not UNSET:
            field_dict["input"] = input_
        if kind is not UNSET:
            field_dict["kind"] = kind
        if depth is not UNSET:
            field_dict["depth"] = depth
        if agent is not UNSET:
            field_dict["agent"] = agent
        if workflow is not UNSET:
            field_dict["workflow"] = workflow
        if spent_cents is not UNSET:
            field_dict["spent_cents"] = spent_cents
        if estimated_cents is not UNSET:
            field_dict["estimated_cents"] = estimated_cents
        if plan is not UNSET:
            field_dict["plan"] = plan
        if at_ms is not UNSET:
            field_dict["at_ms"] = at_ms
        if policies is not UNSET:
            field_dict["policies"] = policies
        if default_deny is not UNSET:
            field_dict["default_deny"] = default_deny

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        skill = d.pop("skill", UNSET)

        def _parse_operation(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        operation = _parse_operation(d.pop("operation", UNSET))


        def _parse_role(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        role = _parse_role(d.pop("role", UNSET))


        input_ = d.pop("input", UNSET)

        def _parse_kind(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        kind = _parse_kind(d.pop("kind", UNSET))


        depth = d.pop("depth", UNSET)

        agent = d.pop("agent", UNSET)

        workflow = d.pop("workflow", UNSET)

        spent_cents = d.pop("spent_cents", UNSET)

        estimated_cents = d.pop("estimated_cents", UNSET)

        def _parse_plan(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        plan = _parse_plan(d.pop("plan", UNSET))


        def _parse_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        at_ms = _parse_at_ms(d.pop("at_ms", UNSET))


        def _parse_policies(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        policies = _parse_policies(d.pop("policies", UNSET))


        default_deny = d.pop("default_deny", UNSET)

        sample_step = cls(
            skill=skill,
            operation=operation,
            role=role,
            input_=input_,
            kind=kind,
            depth=depth,
            agent=agent,
            workflow=workflow,
            spent_cents=spent_cents,
            estimated_cents=estimated_cents,
            plan=plan,
            at_ms=at_ms,
            policies=policies,
            default_deny=default_deny,
        )

        return sample_step

