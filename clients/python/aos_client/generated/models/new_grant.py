from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="NewGrant")



@_attrs_define
class NewGrant:
    """ The body of `POST /v1/credits/grants`.

        Attributes:
            tenant_id (str): The tenant granted.
            amount_cents (int): Whole cents, at least 1.
            id (None | str | Unset): The grant's id (a repeat with the same id grants nothing more); made up when absent.
            kind (None | str | Unset): `paid` (default) or `promotional`.
            effective_at_ms (int | None | Unset): When it takes effect (default: now), ms since the epoch.
            expires_at_ms (int | None | Unset): When what is left of it expires, ms since the epoch.
            priority (int | None | Unset): Among grants expiring together, the higher is spent first (default 0).
     """

    tenant_id: str
    amount_cents: int
    id: None | str | Unset = UNSET
    kind: None | str | Unset = UNSET
    effective_at_ms: int | None | Unset = UNSET
    expires_at_ms: int | None | Unset = UNSET
    priority: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        tenant_id = self.tenant_id

        amount_cents = self.amount_cents

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        kind: None | str | Unset
        if isinstance(self.kind, Unset):
            kind = UNSET
        else:
            kind = self.kind

        effective_at_ms: int | None | Unset
        if isinstance(self.effective_at_ms, Unset):
            effective_at_ms = UNSET
        else:
            effective_at_ms = self.effective_at_ms

        expires_at_ms: int | None | Unset
        if isinstance(self.expires_at_ms, Unset):
            expires_at_ms = UNSET
        else:
            expires_at_ms = self.expires_at_ms

        priority: int | None | Unset
        if isinstance(self.priority, Unset):
            priority = UNSET
        else:
            priority = self.priority


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "tenant_id": tenant_id,
            "amount_cents": amount_cents,
        })
        if id is not UNSET:
            field_dict["id"] = id
        if kind is not UNSET:
            field_dict["kind"] = kind
        if effective_at_ms is not UNSET:
            field_dict["effective_at_ms"] = effective_at_ms
        if expires_at_ms is not UNSET:
            field_dict["expires_at_ms"] = expires_at_ms
        if priority is not UNSET:
            field_dict["priority"] = priority

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        tenant_id = d.pop("tenant_id")

        amount_cents = d.pop("amount_cents")

        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))


        def _parse_kind(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        kind = _parse_kind(d.pop("kind", UNSET))


        def _parse_effective_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        effective_at_ms = _parse_effective_at_ms(d.pop("effective_at_ms", UNSET))


        def _parse_expires_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        expires_at_ms = _parse_expires_at_ms(d.pop("expires_at_ms", UNSET))


        def _parse_priority(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        priority = _parse_priority(d.pop("priority", UNSET))


        new_grant = cls(
            tenant_id=tenant_id,
            amount_cents=amount_cents,
            id=id,
            kind=kind,
            effective_at_ms=effective_at_ms,
            expires_at_ms=expires_at_ms,
            priority=priority,
        )

        return new_grant

