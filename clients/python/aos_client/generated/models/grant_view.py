from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.grant_kind import GrantKind
from ..models.grant_state import GrantState
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="GrantView")



@_attrs_define
class GrantView:
    """ A grant and what is left of it.

        Attributes:
            id (str): Its id.
            kind (GrantKind): Paid or promotional credits.
            state (GrantState): Where a grant stands.
            amount_cents (float): Granted.
            used_cents (float): Spent of it.
            forfeited_cents (float): Lost when it expired.
            remaining_cents (float): Left to spend.
            effective_at_ms (int): When it takes effect, ms since the epoch.
            priority (int): Among grants expiring together, the higher is spent first.
            expires_at_ms (int | None | Unset): When it expires, if it does.
     """

    id: str
    kind: GrantKind
    state: GrantState
    amount_cents: float
    used_cents: float
    forfeited_cents: float
    remaining_cents: float
    effective_at_ms: int
    priority: int
    expires_at_ms: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        kind = self.kind.value

        state = self.state.value

        amount_cents = self.amount_cents

        used_cents = self.used_cents

        forfeited_cents = self.forfeited_cents

        remaining_cents = self.remaining_cents

        effective_at_ms = self.effective_at_ms

        priority = self.priority

        expires_at_ms: int | None | Unset
        if isinstance(self.expires_at_ms, Unset):
            expires_at_ms = UNSET
        else:
            expires_at_ms = self.expires_at_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "kind": kind,
            "state": state,
            "amount_cents": amount_cents,
            "used_cents": used_cents,
            "forfeited_cents": forfeited_cents,
            "remaining_cents": remaining_cents,
            "effective_at_ms": effective_at_ms,
            "priority": priority,
        })
        if expires_at_ms is not UNSET:
            field_dict["expires_at_ms"] = expires_at_ms

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        kind = GrantKind(d.pop("kind"))




        state = GrantState(d.pop("state"))




        amount_cents = d.pop("amount_cents")

        used_cents = d.pop("used_cents")

        forfeited_cents = d.pop("forfeited_cents")

        remaining_cents = d.pop("remaining_cents")

        effective_at_ms = d.pop("effective_at_ms")

        priority = d.pop("priority")

        def _parse_expires_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        expires_at_ms = _parse_expires_at_ms(d.pop("expires_at_ms", UNSET))


        grant_view = cls(
            id=id,
            kind=kind,
            state=state,
            amount_cents=amount_cents,
            used_cents=used_cents,
            forfeited_cents=forfeited_cents,
            remaining_cents=remaining_cents,
            effective_at_ms=effective_at_ms,
            priority=priority,
            expires_at_ms=expires_at_ms,
        )


        grant_view.additional_properties = d
        return grant_view

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
