from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="NewPlan")



@_attrs_define
class NewPlan:
    """ The body of `PUT /v1/tenants/{id}/plan`.

        Attributes:
            plan (None | str | Unset): The plan; `null` returns the tenant to the deployment's default.
     """

    plan: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        plan: None | str | Unset
        if isinstance(self.plan, Unset):
            plan = UNSET
        else:
            plan = self.plan


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if plan is not UNSET:
            field_dict["plan"] = plan

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_plan(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        plan = _parse_plan(d.pop("plan", UNSET))


        new_plan = cls(
            plan=plan,
        )

        return new_plan

