from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.book_view import BookView
  from ..models.transfer_view import TransferView





T = TypeVar("T", bound="GrantMade")



@_attrs_define
class GrantMade:
    """ A grant made (or repeated).

        Attributes:
            grant_id (str): The grant's id.
            transfers (list[TransferView]): The transfers it made (none for a repeat).
            credits_ (BookView): A tenant's credits: its balance, its grants and its ledger's accounts.
     """

    grant_id: str
    transfers: list[TransferView]
    credits_: BookView
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.book_view import BookView # noqa: PLC0415
        from ..models.transfer_view import TransferView # noqa: PLC0415
        grant_id = self.grant_id

        transfers = []
        for transfers_item_data in self.transfers:
            transfers_item = transfers_item_data.to_dict()
            transfers.append(transfers_item)



        credits_ = self.credits_.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "grant_id": grant_id,
            "transfers": transfers,
            "credits": credits_,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.book_view import BookView # noqa: PLC0415
        from ..models.transfer_view import TransferView # noqa: PLC0415
        d = dict(src_dict)
        grant_id = d.pop("grant_id")

        transfers = []
        _transfers = d.pop("transfers")
        for transfers_item_data in (_transfers):
            transfers_item = TransferView.from_dict(transfers_item_data)



            transfers.append(transfers_item)


        credits_ = BookView.from_dict(d.pop("credits"))




        grant_made = cls(
            grant_id=grant_id,
            transfers=transfers,
            credits_=credits_,
        )


        grant_made.additional_properties = d
        return grant_made

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
