from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.plan_name import PlanName
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.quota_check import QuotaCheck





T = TypeVar("T", bound="QuotasView")



@_attrs_define
class QuotasView:
    """ Where a tenant stands on its plan's quotas.

        Attributes:
            tenant_id (str): A tenant id: `ten_` and lower-case letters, digits, '_' or '-'.
            plan (PlanName): A tenant's plan.
            quotas (list[QuotaCheck]): Each quota: whether one more fits, what is used, the limit.
            requests_per_minute (int | None | Unset): Its API request rate (`null`: unlimited).
     """

    tenant_id: str
    plan: PlanName
    quotas: list[QuotaCheck]
    requests_per_minute: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.quota_check import QuotaCheck # noqa: PLC0415
        tenant_id = self.tenant_id

        plan = self.plan.value

        quotas = []
        for quotas_item_data in self.quotas:
            quotas_item = quotas_item_data.to_dict()
            quotas.append(quotas_item)



        requests_per_minute: int | None | Unset
        if isinstance(self.requests_per_minute, Unset):
            requests_per_minute = UNSET
        else:
            requests_per_minute = self.requests_per_minute


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "tenant_id": tenant_id,
            "plan": plan,
            "quotas": quotas,
        })
        if requests_per_minute is not UNSET:
            field_dict["requests_per_minute"] = requests_per_minute

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.quota_check import QuotaCheck # noqa: PLC0415
        d = dict(src_dict)
        tenant_id = d.pop("tenant_id")

        plan = PlanName(d.pop("plan"))




        quotas = []
        _quotas = d.pop("quotas")
        for quotas_item_data in (_quotas):
            quotas_item = QuotaCheck.from_dict(quotas_item_data)



            quotas.append(quotas_item)


        def _parse_requests_per_minute(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        requests_per_minute = _parse_requests_per_minute(d.pop("requests_per_minute", UNSET))


        quotas_view = cls(
            tenant_id=tenant_id,
            plan=plan,
            quotas=quotas,
            requests_per_minute=requests_per_minute,
        )


        quotas_view.additional_properties = d
        return quotas_view

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
