from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.counters_view import CountersView
  from ..models.usage_group import UsageGroup





T = TypeVar("T", bound="UsageReport")



@_attrs_define
class UsageReport:
    """ A tenant's usage of the runs that ended in a span.

        Attributes:
            tenant_id (str): A tenant id: `ten_` and lower-case letters, digits, '_' or '-'.
            group_by (str): `day`, `workflow`, `skill` or `model`.
            from_ (str): The span's start (RFC 3339).
            to (str): Its end.
            runs (int): Runs that ended in it.
            total (CountersView): Usage counters as the API shows them (cost in cents).
            groups (list[UsageGroup]): By `group_by`.
     """

    tenant_id: str
    group_by: str
    from_: str
    to: str
    runs: int
    total: CountersView
    groups: list[UsageGroup]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.counters_view import CountersView # noqa: PLC0415
        from ..models.usage_group import UsageGroup # noqa: PLC0415
        tenant_id = self.tenant_id

        group_by = self.group_by

        from_ = self.from_

        to = self.to

        runs = self.runs

        total = self.total.to_dict()

        groups = []
        for groups_item_data in self.groups:
            groups_item = groups_item_data.to_dict()
            groups.append(groups_item)




        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "tenant_id": tenant_id,
            "group_by": group_by,
            "from": from_,
            "to": to,
            "runs": runs,
            "total": total,
            "groups": groups,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.counters_view import CountersView # noqa: PLC0415
        from ..models.usage_group import UsageGroup # noqa: PLC0415
        d = dict(src_dict)
        tenant_id = d.pop("tenant_id")

        group_by = d.pop("group_by")

        from_ = d.pop("from")

        to = d.pop("to")

        runs = d.pop("runs")

        total = CountersView.from_dict(d.pop("total"))




        groups = []
        _groups = d.pop("groups")
        for groups_item_data in (_groups):
            groups_item = UsageGroup.from_dict(groups_item_data)



            groups.append(groups_item)


        usage_report = cls(
            tenant_id=tenant_id,
            group_by=group_by,
            from_=from_,
            to=to,
            runs=runs,
            total=total,
            groups=groups,
        )


        usage_report.additional_properties = d
        return usage_report

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
