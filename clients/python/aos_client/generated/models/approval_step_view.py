from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="ApprovalStepView")



@_attrs_define
class ApprovalStepView:
    """ The run step an approval holds back.

        Attributes:
            run_id (str): A run id: `run_` and lower-case letters, digits, '_' or '-'.
            step_index (int): The step waiting.
            skill (str): Its skill.
            policies (list[str]): The policies that asked for the approval.
            policy_version (int): Their version.
            timeout_ms (int): How long each level has to decide, ms.
            escalate_to (int | None | Unset): The level an undecided request goes to at its timeout.
     """

    run_id: str
    step_index: int
    skill: str
    policies: list[str]
    policy_version: int
    timeout_ms: int
    escalate_to: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        run_id = self.run_id

        step_index = self.step_index

        skill = self.skill

        policies = self.policies



        policy_version = self.policy_version

        timeout_ms = self.timeout_ms

        escalate_to: int | None | Unset
        if isinstance(self.escalate_to, Unset):
            escalate_to = UNSET
        else:
            escalate_to = self.escalate_to


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "run_id": run_id,
            "step_index": step_index,
            "skill": skill,
            "policies": policies,
            "policy_version": policy_version,
            "timeout_ms": timeout_ms,
        })
        if escalate_to is not UNSET:
            field_dict["escalate_to"] = escalate_to

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        run_id = d.pop("run_id")

        step_index = d.pop("step_index")

        skill = d.pop("skill")

        policies = cast(list[str], d.pop("policies"))


        policy_version = d.pop("policy_version")

        timeout_ms = d.pop("timeout_ms")

        def _parse_escalate_to(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        escalate_to = _parse_escalate_to(d.pop("escalate_to", UNSET))


        approval_step_view = cls(
            run_id=run_id,
            step_index=step_index,
            skill=skill,
            policies=policies,
            policy_version=policy_version,
            timeout_ms=timeout_ms,
            escalate_to=escalate_to,
        )


        approval_step_view.additional_properties = d
        return approval_step_view

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
