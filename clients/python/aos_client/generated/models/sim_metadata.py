from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="SimMetadata")



@_attrs_define
class SimMetadata:
    """ Figures about the plan as a whole.

        Attributes:
            plan_steps (int): Steps in the plan.
            cumulative_risk (float): Probability that some step fails.
            budget_utilization (float): Cost ÷ budget (0 without a budget).
     """

    plan_steps: int
    cumulative_risk: float
    budget_utilization: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        plan_steps = self.plan_steps

        cumulative_risk = self.cumulative_risk

        budget_utilization = self.budget_utilization


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "plan_steps": plan_steps,
            "cumulative_risk": cumulative_risk,
            "budget_utilization": budget_utilization,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        plan_steps = d.pop("plan_steps")

        cumulative_risk = d.pop("cumulative_risk")

        budget_utilization = d.pop("budget_utilization")

        sim_metadata = cls(
            plan_steps=plan_steps,
            cumulative_risk=cumulative_risk,
            budget_utilization=budget_utilization,
        )


        sim_metadata.additional_properties = d
        return sim_metadata

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
