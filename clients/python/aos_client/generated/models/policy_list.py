from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.policy_view import PolicyView





T = TypeVar("T", bound="PolicyList")



@_attrs_define
class PolicyList:
    """ A tenant's policy versions, newest first.

        Attributes:
            versions (list[PolicyView]): This page of versions.
            current (None | PolicyView | Unset):
            next_before (int | None | Unset): Pass as `before` for the next page (`null`: the last page).
     """

    versions: list[PolicyView]
    current: None | PolicyView | Unset = UNSET
    next_before: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.policy_view import PolicyView # noqa: PLC0415
        versions = []
        for versions_item_data in self.versions:
            versions_item = versions_item_data.to_dict()
            versions.append(versions_item)



        current: dict[str, Any] | None | Unset
        if isinstance(self.current, Unset):
            current = UNSET
        elif isinstance(self.current, PolicyView):
            current = self.current.to_dict()
        else:
            current = self.current

        next_before: int | None | Unset
        if isinstance(self.next_before, Unset):
            next_before = UNSET
        else:
            next_before = self.next_before


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "versions": versions,
        })
        if current is not UNSET:
            field_dict["current"] = current
        if next_before is not UNSET:
            field_dict["next_before"] = next_before

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.policy_view import PolicyView # noqa: PLC0415
        d = dict(src_dict)
        versions = []
        _versions = d.pop("versions")
        for versions_item_data in (_versions):
            versions_item = PolicyView.from_dict(versions_item_data)



            versions.append(versions_item)


        def _parse_current(data: object) -> None | PolicyView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                current_type_1 = PolicyView.from_dict(data)



                return current_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PolicyView | Unset, data)

        current = _parse_current(d.pop("current", UNSET))


        def _parse_next_before(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        next_before = _parse_next_before(d.pop("next_before", UNSET))


        policy_list = cls(
            versions=versions,
            current=current,
            next_before=next_before,
        )


        policy_list.additional_properties = d
        return policy_list

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
