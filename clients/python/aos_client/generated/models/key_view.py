from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.permission import Permission
from ..models.role import Role
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="KeyView")



@_attrs_define
class KeyView:
    """ An API key (never its secret or hash).

        Attributes:
            id (str): A api key id: `key_` and lower-case letters, digits, '_' or '-'.
            tenant_id (str): A tenant id: `ten_` and lower-case letters, digits, '_' or '-'.
            role (Role):
            permissions (list[Permission]): What it may do, all told.
            approval_level (int): The level it decides approvals at.
            label (str): Free text.
            created_at_ms (int): Creation time, ms since the epoch.
            scopes (list[Permission] | None | Unset): The permissions it is limited to (`null`: all of its role's).
            expires_at_ms (int | None | Unset): When it stops working, if ever.
            revoked_at_ms (int | None | Unset): When it was revoked, if it was.
     """

    id: str
    tenant_id: str
    role: Role
    permissions: list[Permission]
    approval_level: int
    label: str
    created_at_ms: int
    scopes: list[Permission] | None | Unset = UNSET
    expires_at_ms: int | None | Unset = UNSET
    revoked_at_ms: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        tenant_id = self.tenant_id

        role = self.role.value

        permissions = []
        for permissions_item_data in self.permissions:
            permissions_item = permissions_item_data.value
            permissions.append(permissions_item)



        approval_level = self.approval_level

        label = self.label

        created_at_ms = self.created_at_ms

        scopes: list[str] | None | Unset
        if isinstance(self.scopes, Unset):
            scopes = UNSET
        elif isinstance(self.scopes, list):
            scopes = []
            for scopes_type_0_item_data in self.scopes:
                scopes_type_0_item = scopes_type_0_item_data.value
                scopes.append(scopes_type_0_item)


        else:
            scopes = self.scopes

        expires_at_ms: int | None | Unset
        if isinstance(self.expires_at_ms, Unset):
            expires_at_ms = UNSET
        else:
            expires_at_ms = self.expires_at_ms

        revoked_at_ms: int | None | Unset
        if isinstance(self.revoked_at_ms, Unset):
            revoked_at_ms = UNSET
        else:
            revoked_at_ms = self.revoked_at_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "tenant_id": tenant_id,
            "role": role,
            "permissions": permissions,
            "approval_level": approval_level,
            "label": label,
            "created_at_ms": created_at_ms,
        })
        if scopes is not UNSET:
            field_dict["scopes"] = scopes
        if expires_at_ms is not UNSET:
            field_dict["expires_at_ms"] = expires_at_ms
        if revoked_at_ms is not UNSET:
            field_dict["revoked_at_ms"] = revoked_at_ms

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        tenant_id = d.pop("tenant_id")

        role = Role(d.pop("role"))




        permissions = []
        _permissions = d.pop("permissions")
        for permissions_item_data in (_permissions):
            permissions_item = Permission(permissions_item_data)



            permissions.append(permissions_item)


        approval_level = d.pop("approval_level")

        label = d.pop("label")

        created_at_ms = d.pop("created_at_ms")

        def _parse_scopes(data: object) -> list[Permission] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                scopes_type_0 = []
                _scopes_type_0 = data
                for scopes_type_0_item_data in (_scopes_type_0):
                    scopes_type_0_item = Permission(scopes_type_0_item_data)



                    scopes_type_0.append(scopes_type_0_item)

                return scopes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Permission] | None | Unset, data)

        scopes = _parse_scopes(d.pop("scopes", UNSET))


        def _parse_expires_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        expires_at_ms = _parse_expires_at_ms(d.pop("expires_at_ms", UNSET))


        def _parse_revoked_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        revoked_at_ms = _parse_revoked_at_ms(d.pop("revoked_at_ms", UNSET))


        key_view = cls(
            id=id,
            tenant_id=tenant_id,
            role=role,
            permissions=permissions,
            approval_level=approval_level,
            label=label,
            created_at_ms=created_at_ms,
            scopes=scopes,
            expires_at_ms=expires_at_ms,
            revoked_at_ms=revoked_at_ms,
        )


        key_view.additional_properties = d
        return key_view

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
