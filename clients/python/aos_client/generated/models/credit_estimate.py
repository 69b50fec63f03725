from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.source import Source
from typing import cast

if TYPE_CHECKING:
  from ..models.priced_step import PricedStep





T = TypeVar("T", bound="CreditEstimate")



@_attrs_define
class CreditEstimate:
    """ What AOS's price table would reserve for a plan.

        Attributes:
            source (Source): Where a step's figures come from.
            note (str): What the figures mean.
            estimated_cents (float): All the steps' reservations together.
            steps (list[PricedStep]): Per step.
     """

    source: Source
    note: str
    estimated_cents: float
    steps: list[PricedStep]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.priced_step import PricedStep # noqa: PLC0415
        source = self.source.value

        note = self.note

        estimated_cents = self.estimated_cents

        steps = []
        for steps_item_data in self.steps:
            steps_item = steps_item_data.to_dict()
            steps.append(steps_item)




        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "source": source,
            "note": note,
            "estimated_cents": estimated_cents,
            "steps": steps,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.priced_step import PricedStep # noqa: PLC0415
        d = dict(src_dict)
        source = Source(d.pop("source"))




        note = d.pop("note")

        estimated_cents = d.pop("estimated_cents")

        steps = []
        _steps = d.pop("steps")
        for steps_item_data in (_steps):
            steps_item = PricedStep.from_dict(steps_item_data)



            steps.append(steps_item)


        credit_estimate = cls(
            source=source,
            note=note,
            estimated_cents=estimated_cents,
            steps=steps,
        )


        credit_estimate.additional_properties = d
        return credit_estimate

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
