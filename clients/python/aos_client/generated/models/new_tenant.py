from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="NewTenant")



@_attrs_define
class NewTenant:
    """ The body of `POST /v1/tenants`.

        Attributes:
            name (str): Its name, 1-200 characters.
            id (None | str | Unset): Its id (`ten_…`); made up when absent.
            retention_days (int | None | Unset): Days to keep its finished runs; the deployment's default when absent.
            plan (None | str | Unset): `free`, `dev`, `pro`, `enterprise` or `unlimited`; default: the deployment's.
     """

    name: str
    id: None | str | Unset = UNSET
    retention_days: int | None | Unset = UNSET
    plan: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        name = self.name

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        retention_days: int | None | Unset
        if isinstance(self.retention_days, Unset):
            retention_days = UNSET
        else:
            retention_days = self.retention_days

        plan: None | str | Unset
        if isinstance(self.plan, Unset):
            plan = UNSET
        else:
            plan = self.plan


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "name": name,
        })
        if id is not UNSET:
            field_dict["id"] = id
        if retention_days is not UNSET:
            field_dict["retention_days"] = retention_days
        if plan is not UNSET:
            field_dict["plan"] = plan

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))


        def _parse_retention_days(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        retention_days = _parse_retention_days(d.pop("retention_days", UNSET))


        def _parse_plan(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        plan = _parse_plan(d.pop("plan", UNSET))


        new_tenant = cls(
            name=name,
            id=id,
            retention_days=retention_days,
            plan=plan,
        )

        return new_tenant

