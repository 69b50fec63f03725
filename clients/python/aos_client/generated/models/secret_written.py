from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="SecretWritten")



@_attrs_define
class SecretWritten:
    """ A secret as stored (never its value).

        Attributes:
            name (str): Its name.
            created (bool): Whether this call created it (else it replaced its value).
            updated_at_ms (int): When, ms since the epoch.
     """

    name: str
    created: bool
    updated_at_ms: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        name = self.name

        created = self.created

        updated_at_ms = self.updated_at_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "name": name,
            "created": created,
            "updated_at_ms": updated_at_ms,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        created = d.pop("created")

        updated_at_ms = d.pop("updated_at_ms")

        secret_written = cls(
            name=name,
            created=created,
            updated_at_ms=updated_at_ms,
        )


        secret_written.additional_properties = d
        return secret_written

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
