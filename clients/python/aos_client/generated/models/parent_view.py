from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="ParentView")



@_attrs_define
class ParentView:
    """ The workflow execution a run belongs to.

        Attributes:
            execution_id (str): A execution id: `exe_` and lower-case letters, digits, '_' or '-'.
            node (str): Its node the run is for.
            compensation (bool): Whether the run is the node's compensation.
            item (int | None | Unset): The element of a map node.
     """

    execution_id: str
    node: str
    compensation: bool
    item: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        execution_id = self.execution_id

        node = self.node

        compensation = self.compensation

        item: int | None | Unset
        if isinstance(self.item, Unset):
            item = UNSET
        else:
            item = self.item


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "execution_id": execution_id,
            "node": node,
            "compensation": compensation,
        })
        if item is not UNSET:
            field_dict["item"] = item

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        execution_id = d.pop("execution_id")

        node = d.pop("node")

        compensation = d.pop("compensation")

        def _parse_item(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        item = _parse_item(d.pop("item", UNSET))


        parent_view = cls(
            execution_id=execution_id,
            node=node,
            compensation=compensation,
            item=item,
        )


        parent_view.additional_properties = d
        return parent_view

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
