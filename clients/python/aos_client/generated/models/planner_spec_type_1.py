from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.planner_spec_type_1_type import PlannerSpecType1Type
from typing import cast

if TYPE_CHECKING:
  from ..models.plan_step import PlanStep





T = TypeVar("T", bound="PlannerSpecType1")



@_attrs_define
class PlannerSpecType1:
    """ Fixed steps, decided up front: the first planner step runs them, the second
    finishes with the last one's output. (A run submitted with a `plan` is this
    planner's decision, taken at submission.)

        Attributes:
            steps (list[PlanStep]): The steps.
            type_ (PlannerSpecType1Type):
     """

    steps: list[PlanStep]
    type_: PlannerSpecType1Type
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.plan_step import PlanStep # noqa: PLC0415
        steps = []
        for steps_item_data in self.steps:
            steps_item = steps_item_data.to_dict()
            steps.append(steps_item)



        type_ = self.type_.value


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "steps": steps,
            "type": type_,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.plan_step import PlanStep # noqa: PLC0415
        d = dict(src_dict)
        steps = []
        _steps = d.pop("steps")
        for steps_item_data in (_steps):
            steps_item = PlanStep.from_dict(steps_item_data)



            steps.append(steps_item)


        type_ = PlannerSpecType1Type(d.pop("type"))




        planner_spec_type_1 = cls(
            steps=steps,
            type_=type_,
        )


        planner_spec_type_1.additional_properties = d
        return planner_spec_type_1

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
