from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="NewKey")



@_attrs_define
class NewKey:
    """ The body of `POST /v1/api-keys`.

        Attributes:
            label (str | Unset): Free text.
            tenant_id (None | str | Unset): Another tenant's id (operators provisioning it); default: the caller's.
            role (None | str | Unset): The new key's role; default: the caller's (an operator's default for another
                tenant: `admin`).
            scopes (list[str] | None | Unset): Permissions the key is limited to (of its role's).
            approval_level (int | None | Unset): The level it decides approvals at (1-5, at most its role's).
            expires_in_s (int | None | Unset): Seconds until it stops working (60 s to 10 years).
     """

    label: str | Unset = UNSET
    tenant_id: None | str | Unset = UNSET
    role: None | str | Unset = UNSET
    scopes: list[str] | None | Unset = UNSET
    approval_level: int | None | Unset = UNSET
    expires_in_s: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        label = self.label

        tenant_id: None | str | Unset
        if isinstance(self.tenant_id, Unset):
            tenant_id = UNSET
        else:
            tenant_id = self.tenant_id

        role: None | str | Unset
        if isinstance(self.role, Unset):
            role = UNSET
        else:
            role = self.role

        scopes: list[str] | None | Unset
        if isinstance(self.scopes, Unset):
            scopes = UNSET
        elif isinstance(self.scopes, list):
            scopes = self.scopes


        else:
            scopes = self.scopes

        approval_level: int | None | Unset
        if isinstance(self.approval_level, Unset):
            approval_level = UNSET
        else:
            approval_level = self.approval_level

        expires_in_s: int | None | Unset
        if isinstance(self.expires_in_s, Unset):
            expires_in_s = UNSET
        else:
            expires_in_s = self.expires_in_s


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if label is not UNSET:
            field_dict["label"] = label
        if tenant_id is not UNSET:
            field_dict["tenant_id"] = tenant_id
        if role is not UNSET:
            field_dict["role"] = role
        if scopes is not UNSET:
            field_dict["scopes"] = scopes
        if approval_level is not UNSET:
            field_dict["approval_level"] = approval_level
        if expires_in_s is not UNSET:
            field_dict["expires_in_s"] = expires_in_s

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        label = d.pop("label", UNSET)

        def _parse_tenant_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        tenant_id = _parse_tenant_id(d.pop("tenant_id", UNSET))


        def _parse_role(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        role = _parse_role(d.pop("role", UNSET))


        def _parse_scopes(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                scopes_type_0 = cast(list[str], data)

                return scopes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        scopes = _parse_scopes(d.pop("scopes", UNSET))


        def _parse_approval_level(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        approval_level = _parse_approval_level(d.pop("approval_level", UNSET))


        def _parse_expires_in_s(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        expires_in_s = _parse_expires_in_s(d.pop("expires_in_s", UNSET))


        new_key = cls(
            label=label,
            tenant_id=tenant_id,
            role=role,
            scopes=scopes,
            approval_level=approval_level,
            expires_in_s=expires_in_s,
        )

        return new_key

