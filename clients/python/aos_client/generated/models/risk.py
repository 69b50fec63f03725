from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="Risk")



@_attrs_define
class Risk:
    """ A risk worth naming (a step whose single execution fails more often than 5 %).

        Attributes:
            step_index (int): Position in the plan.
            skill (str): The skill.
            risk_type (str): How it fails.
            probability (float): Probability that the step fails.
     """

    step_index: int
    skill: str
    risk_type: str
    probability: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        step_index = self.step_index

        skill = self.skill

        risk_type = self.risk_type

        probability = self.probability


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "step_index": step_index,
            "skill": skill,
            "risk_type": risk_type,
            "probability": probability,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        step_index = d.pop("step_index")

        skill = d.pop("skill")

        risk_type = d.pop("risk_type")

        probability = d.pop("probability")

        risk = cls(
            step_index=step_index,
            skill=skill,
            risk_type=risk_type,
            probability=probability,
        )


        risk.additional_properties = d
        return risk

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
