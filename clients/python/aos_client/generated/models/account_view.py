from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="AccountView")



@_attrs_define
class AccountView:
    """ An account's balance.

        Attributes:
            debits_posted_cents (float): Debits posted.
            credits_posted_cents (float): Credits posted.
            debits_pending_cents (float): Debits pending.
            credits_pending_cents (float): Credits pending.
     """

    debits_posted_cents: float
    credits_posted_cents: float
    debits_pending_cents: float
    credits_pending_cents: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        debits_posted_cents = self.debits_posted_cents

        credits_posted_cents = self.credits_posted_cents

        debits_pending_cents = self.debits_pending_cents

        credits_pending_cents = self.credits_pending_cents


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "debits_posted_cents": debits_posted_cents,
            "credits_posted_cents": credits_posted_cents,
            "debits_pending_cents": debits_pending_cents,
            "credits_pending_cents": credits_pending_cents,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        debits_posted_cents = d.pop("debits_posted_cents")

        credits_posted_cents = d.pop("credits_posted_cents")

        debits_pending_cents = d.pop("debits_pending_cents")

        credits_pending_cents = d.pop("credits_pending_cents")

        account_view = cls(
            debits_posted_cents=debits_posted_cents,
            credits_posted_cents=credits_posted_cents,
            debits_pending_cents=debits_pending_cents,
            credits_pending_cents=credits_pending_cents,
        )


        account_view.additional_properties = d
        return account_view

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
