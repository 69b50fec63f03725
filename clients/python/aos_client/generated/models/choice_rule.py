from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.condition import Condition





T = TypeVar("T", bound="ChoiceRule")



@_attrs_define
class ChoiceRule:
    """ One branch of a choice node.

        Attributes:
            when (Condition): a condition is {all: [...]}, {any: [...]}, {not: {...}} or {var: "${...}", op:
                eq|ne|gt|gte|lt|lte|exists, value: ...}
            name (None | str | Unset): Branch name reported in the node's output (`{"branch": name}`); defaults to
                its position, `"0"`, `"1"`, …
            next_ (list[str] | Unset): Nodes that run only when this branch is taken.
     """

    when: Condition
    name: None | str | Unset = UNSET
    next_: list[str] | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.condition import Condition # noqa: PLC0415
        when = self.when.to_dict()

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        next_: list[str] | Unset = UNSET
        if not isinstance(self.next_, Unset):
            next_ = self.next_




        field_dict: dict[str, Any] = {}

        field_dict.update({
            "when": when,
        })
        if name is not UNSET:
            field_dict["name"] = name
        if next_ is not UNSET:
            field_dict["next"] = next_

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.condition import Condition # noqa: PLC0415
        d = dict(src_dict)
        when = Condition.from_dict(d.pop("when"))




        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))


        next_ = cast(list[str], d.pop("next", UNSET))


        choice_rule = cls(
            when=when,
            name=name,
            next_=next_,
        )

        return choice_rule

