from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="EnvelopeView")



@_attrs_define
class EnvelopeView:
    """ What an execution's runs may spend and have spent.

        Attributes:
            limit_cents (float): Its budget, or its plan's per-workflow limit, in cents.
            spent_cents (float): Spent, in cents.
     """

    limit_cents: float
    spent_cents: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        limit_cents = self.limit_cents

        spent_cents = self.spent_cents


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "limit_cents": limit_cents,
            "spent_cents": spent_cents,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        limit_cents = d.pop("limit_cents")

        spent_cents = d.pop("spent_cents")

        envelope_view = cls(
            limit_cents=limit_cents,
            spent_cents=spent_cents,
        )


        envelope_view.additional_properties = d
        return envelope_view

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
