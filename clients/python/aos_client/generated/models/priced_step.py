from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="PricedStep")



@_attrs_define
class PricedStep:
    """ One step's reservation by the price table.

        Attributes:
            step_index (int): Its position.
            skill (str): Its skill.
            iterations (int): How many times it runs.
            per_call_cents (float): One call's reservation.
            cents (float): All its calls'.
     """

    step_index: int
    skill: str
    iterations: int
    per_call_cents: float
    cents: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        step_index = self.step_index

        skill = self.skill

        iterations = self.iterations

        per_call_cents = self.per_call_cents

        cents = self.cents


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "step_index": step_index,
            "skill": skill,
            "iterations": iterations,
            "per_call_cents": per_call_cents,
            "cents": cents,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        step_index = d.pop("step_index")

        skill = d.pop("skill")

        iterations = d.pop("iterations")

        per_call_cents = d.pop("per_call_cents")

        cents = d.pop("cents")

        priced_step = cls(
            step_index=step_index,
            skill=skill,
            iterations=iterations,
            per_call_cents=per_call_cents,
            cents=cents,
        )


        priced_step.additional_properties = d
        return priced_step

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
