from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.plan_name import PlanName






T = TypeVar("T", bound="TenantView")



@_attrs_define
class TenantView:
    """ A tenant.

        Attributes:
            id (str): A tenant id: `ten_` and lower-case letters, digits, '_' or '-'.
            name (str): Its name.
            created_at_ms (int): Creation time, ms since the epoch.
            retention_days (int): Days its finished runs are kept.
            retention_is_default (bool): Whether that is the deployment's default.
            plan (PlanName): A tenant's plan.
            plan_is_default (bool): Whether that is the deployment's default.
     """

    id: str
    name: str
    created_at_ms: int
    retention_days: int
    retention_is_default: bool
    plan: PlanName
    plan_is_default: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        created_at_ms = self.created_at_ms

        retention_days = self.retention_days

        retention_is_default = self.retention_is_default

        plan = self.plan.value

        plan_is_default = self.plan_is_default


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "name": name,
            "created_at_ms": created_at_ms,
            "retention_days": retention_days,
            "retention_is_default": retention_is_default,
            "plan": plan,
            "plan_is_default": plan_is_default,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        created_at_ms = d.pop("created_at_ms")

        retention_days = d.pop("retention_days")

        retention_is_default = d.pop("retention_is_default")

        plan = PlanName(d.pop("plan"))




        plan_is_default = d.pop("plan_is_default")

        tenant_view = cls(
            id=id,
            name=name,
            created_at_ms=created_at_ms,
            retention_days=retention_days,
            retention_is_default=retention_is_default,
            plan=plan,
            plan_is_default=plan_is_default,
        )


        tenant_view.additional_properties = d
        return tenant_view

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
