from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.new_key_view import NewKeyView
  from ..models.tenant_view import TenantView





T = TypeVar("T", bound="TenantCreated")



@_attrs_define
class TenantCreated:
    """ A new tenant and its first key.

        Attributes:
            tenant (TenantView): A tenant.
            api_key (NewKeyView): A new key, with its secret: shown this once.
     """

    tenant: TenantView
    api_key: NewKeyView
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.new_key_view import NewKeyView # noqa: PLC0415
        from ..models.tenant_view import TenantView # noqa: PLC0415
        tenant = self.tenant.to_dict()

        api_key = self.api_key.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "tenant": tenant,
            "api_key": api_key,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.new_key_view import NewKeyView # noqa: PLC0415
        from ..models.tenant_view import TenantView # noqa: PLC0415
        d = dict(src_dict)
        tenant = TenantView.from_dict(d.pop("tenant"))




        api_key = NewKeyView.from_dict(d.pop("api_key"))




        tenant_created = cls(
            tenant=tenant,
            api_key=api_key,
        )


        tenant_created.additional_properties = d
        return tenant_created

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
