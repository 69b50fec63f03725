from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.gate_decision import GateDecision
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="GateRecord")



@_attrs_define
class GateRecord:
    """ The policy gate's decision for a step, as its checkpoint records it (and its chain
    hash covers): a replay sees the same gate.

        Attributes:
            decision (GateDecision): What the policy gate made of a step.
            policy_version (int): The tenant's policy version that decided.
            policies (list[str] | Unset): The policies that applied and did not allow.
            approval (None | str | Unset): The approval the step waited for.
     """

    decision: GateDecision
    policy_version: int
    policies: list[str] | Unset = UNSET
    approval: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        decision = self.decision.value

        policy_version = self.policy_version

        policies: list[str] | Unset = UNSET
        if not isinstance(self.policies, Unset):
            policies = self.policies



        approval: None | str | Unset
        if isinstance(self.approval, Unset):
            approval = UNSET
        else:
            approval = self.approval


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "decision": decision,
            "policy_version": policy_version,
        })
        if policies is not UNSET:
            field_dict["policies"] = policies
        if approval is not UNSET:
            field_dict["approval"] = approval

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        decision = GateDecision(d.pop("decision"))




        policy_version = d.pop("policy_version")

        policies = cast(list[str], d.pop("policies", UNSET))


        def _parse_approval(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        approval = _parse_approval(d.pop("approval", UNSET))


        gate_record = cls(
            decision=decision,
            policy_version=policy_version,
            policies=policies,
            approval=approval,
        )


        gate_record.additional_properties = d
        return gate_record

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
