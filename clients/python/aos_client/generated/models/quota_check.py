from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.quota_name import QuotaName
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="QuotaCheck")



@_attrs_define
class QuotaCheck:
    """ The seed's quota check: whether `adding` more fits, what is used and the limit.

        Attributes:
            allowed (bool): Whether it fits.
            quota_name (QuotaName): A quota.
            current (int): Used so far in its period.
            reason (None | str | Unset): Why not (`None` when it fits).
            limit (int | None | Unset): Its limit (`None`: none).
     """

    allowed: bool
    quota_name: QuotaName
    current: int
    reason: None | str | Unset = UNSET
    limit: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        allowed = self.allowed

        quota_name = self.quota_name.value

        current = self.current

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        limit: int | None | Unset
        if isinstance(self.limit, Unset):
            limit = UNSET
        else:
            limit = self.limit


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "allowed": allowed,
            "quota_name": quota_name,
            "current": current,
        })
        if reason is not UNSET:
            field_dict["reason"] = reason
        if limit is not UNSET:
            field_dict["limit"] = limit

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        allowed = d.pop("allowed")

        quota_name = QuotaName(d.pop("quota_name"))




        current = d.pop("current")

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))


        def _parse_limit(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        limit = _parse_limit(d.pop("limit", UNSET))


        quota_check = cls(
            allowed=allowed,
            quota_name=quota_name,
            current=current,
            reason=reason,
            limit=limit,
        )


        quota_check.additional_properties = d
        return quota_check

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
