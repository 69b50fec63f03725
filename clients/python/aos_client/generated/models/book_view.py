from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.book_view_accounts import BookViewAccounts
  from ..models.grant_view import GrantView





T = TypeVar("T", bound="BookView")



@_attrs_define
class BookView:
    """ A tenant's credits: its balance, its grants and its ledger's accounts.

        Attributes:
            tenant_id (str): A tenant id: `ten_` and lower-case letters, digits, '_' or '-'.
            metered (bool): Whether its steps are charged (it has had a grant).
            available_cents (float): What it may still reserve.
            reserved_cents (float): What its pending reservations hold.
            posted_cents (float): Its credits posted (granted less spent and expired).
            spent_cents (float): What it has spent.
            expired_cents (float): What its grants left unspent when they expired.
            suspended (bool): Whether it is suspended (its steps reserve nothing).
            grants (list[GrantView]): Its grants, in the order they are spent (soonest to expire first).
            accounts (BookViewAccounts): Each account of its ledger (`credits`, `grants`, `spent`, `expired`).
     """

    tenant_id: str
    metered: bool
    available_cents: float
    reserved_cents: float
    posted_cents: float
    spent_cents: float
    expired_cents: float
    suspended: bool
    grants: list[GrantView]
    accounts: BookViewAccounts
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.book_view_accounts import BookViewAccounts # noqa: PLC0415
        from ..models.grant_view import GrantView # noqa: PLC0415
        tenant_id = self.tenant_id

        metered = self.metered

        available_cents = self.available_cents

        reserved_cents = self.reserved_cents

        posted_cents = self.posted_cents

        spent_cents = self.spent_cents

        expired_cents = self.expired_cents

        suspended = self.suspended

        grants = []
        for grants_item_data in self.grants:
            grants_item = grants_item_data.to_dict()
            grants.append(grants_item)



        accounts = self.accounts.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "tenant_id": tenant_id,
            "metered": metered,
            "available_cents": available_cents,
            "reserved_cents": reserved_cents,
            "posted_cents": posted_cents,
            "spent_cents": spent_cents,
            "expired_cents": expired_cents,
            "suspended": suspended,
            "grants": grants,
            "accounts": accounts,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.book_view_accounts import BookViewAccounts # noqa: PLC0415
        from ..models.grant_view import GrantView # noqa: PLC0415
        d = dict(src_dict)
        tenant_id = d.pop("tenant_id")

        metered = d.pop("metered")

        available_cents = d.pop("available_cents")

        reserved_cents = d.pop("reserved_cents")

        posted_cents = d.pop("posted_cents")

        spent_cents = d.pop("spent_cents")

        expired_cents = d.pop("expired_cents")

        suspended = d.pop("suspended")

        grants = []
        _grants = d.pop("grants")
        for grants_item_data in (_grants):
            grants_item = GrantView.from_dict(grants_item_data)



            grants.append(grants_item)


        accounts = BookViewAccounts.from_dict(d.pop("accounts"))




        book_view = cls(
            tenant_id=tenant_id,
            metered=metered,
            available_cents=available_cents,
            reserved_cents=reserved_cents,
            posted_cents=posted_cents,
            spent_cents=spent_cents,
            expired_cents=expired_cents,
            suspended=suspended,
            grants=grants,
            accounts=accounts,
        )


        book_view.additional_properties = d
        return book_view

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
