from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="StepCharge")



@_attrs_define
class StepCharge:
    """ What a step cost: its estimate before it ran (what was reserved) and its charge after.

        Attributes:
            estimate_mc (int): Estimated before it ran, millicredits.
            actual_mc (int): Charged after (added to the run's spend; the ledger posts at most the
                reservation), millicredits.
            reservation (None | str | Unset): The tenant's reservation, when the tenant is metered.
     """

    estimate_mc: int
    actual_mc: int
    reservation: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        estimate_mc = self.estimate_mc

        actual_mc = self.actual_mc

        reservation: None | str | Unset
        if isinstance(self.reservation, Unset):
            reservation = UNSET
        else:
            reservation = self.reservation


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "estimate_mc": estimate_mc,
            "actual_mc": actual_mc,
        })
        if reservation is not UNSET:
            field_dict["reservation"] = reservation

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        estimate_mc = d.pop("estimate_mc")

        actual_mc = d.pop("actual_mc")

        def _parse_reservation(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reservation = _parse_reservation(d.pop("reservation", UNSET))


        step_charge = cls(
            estimate_mc=estimate_mc,
            actual_mc=actual_mc,
            reservation=reservation,
        )


        step_charge.additional_properties = d
        return step_charge

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
