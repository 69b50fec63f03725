from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.flag_view import FlagView





T = TypeVar("T", bound="FlagList")



@_attrs_define
class FlagList:
    """ A tenant's flags.

        Attributes:
            flags (list[FlagView]): The flags.
            environment (str): The deployment's environment (what an evaluation uses by default).
     """

    flags: list[FlagView]
    environment: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.flag_view import FlagView # noqa: PLC0415
        flags = []
        for flags_item_data in self.flags:
            flags_item = flags_item_data.to_dict()
            flags.append(flags_item)



        environment = self.environment


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "flags": flags,
            "environment": environment,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.flag_view import FlagView # noqa: PLC0415
        d = dict(src_dict)
        flags = []
        _flags = d.pop("flags")
        for flags_item_data in (_flags):
            flags_item = FlagView.from_dict(flags_item_data)



            flags.append(flags_item)


        environment = d.pop("environment")

        flag_list = cls(
            flags=flags,
            environment=environment,
        )


        flag_list.additional_properties = d
        return flag_list

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
