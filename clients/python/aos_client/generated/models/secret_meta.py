from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="SecretMeta")



@_attrs_define
class SecretMeta:
    """ What is known of a tenant secret besides its value.

        Attributes:
            name (str): Its name.
            created_at_ms (int): When it was first set (ms since the epoch).
            updated_at_ms (int): When its value last changed.
     """

    name: str
    created_at_ms: int
    updated_at_ms: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        name = self.name

        created_at_ms = self.created_at_ms

        updated_at_ms = self.updated_at_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "name": name,
            "created_at_ms": created_at_ms,
            "updated_at_ms": updated_at_ms,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        created_at_ms = d.pop("created_at_ms")

        updated_at_ms = d.pop("updated_at_ms")

        secret_meta = cls(
            name=name,
            created_at_ms=created_at_ms,
            updated_at_ms=updated_at_ms,
        )


        secret_meta.additional_properties = d
        return secret_meta

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
