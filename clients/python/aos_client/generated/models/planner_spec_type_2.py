from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.planner_spec_type_2_type import PlannerSpecType2Type






T = TypeVar("T", bound="PlannerSpecType2")



@_attrs_define
class PlannerSpecType2:
    """ The decisions of a recorded agent run, in order, without calling a model.

        Attributes:
            run_id (str): The recorded run (same tenant).
            type_ (PlannerSpecType2Type):
     """

    run_id: str
    type_: PlannerSpecType2Type
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        run_id = self.run_id

        type_ = self.type_.value


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "run_id": run_id,
            "type": type_,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        run_id = d.pop("run_id")

        type_ = PlannerSpecType2Type(d.pop("type"))




        planner_spec_type_2 = cls(
            run_id=run_id,
            type_=type_,
        )


        planner_spec_type_2.additional_properties = d
        return planner_spec_type_2

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
