from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.condition_op import ConditionOp
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="Condition")



@_attrs_define
class Condition:
    """ a condition is {all: [...]}, {any: [...]}, {not: {...}} or {var: "${...}", op: eq|ne|gt|gte|lt|lte|exists, value:
    ...}

        Attributes:
            all_ (list[Condition] | Unset):
            any_ (list[Condition] | Unset):
            not_ (Condition | Unset): a condition is {all: [...]}, {any: [...]}, {not: {...}} or {var: "${...}", op:
                eq|ne|gt|gte|lt|lte|exists, value: ...}
            var (str | Unset):
            op (ConditionOp | Unset):
            value (Any | Unset):
     """

    all_: list[Condition] | Unset = UNSET
    any_: list[Condition] | Unset = UNSET
    not_: Condition | Unset = UNSET
    var: str | Unset = UNSET
    op: ConditionOp | Unset = UNSET
    value: Any | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        all_: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.all_, Unset):
            all_ = []
            for all_item_data in self.all_:
                all_item = all_item_data.to_dict()
                all_.append(all_item)



        any_: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.any_, Unset):
            any_ = []
            for any_item_data in self.any_:
                any_item = any_item_data.to_dict()
                any_.append(any_item)



        not_: dict[str, Any] | Unset = UNSET
        if not isinstance(self.not_, Unset):
            not_ = self.not_.to_dict()

        var = self.var

        op: str | Unset = UNSET
        if not isinstance(self.op, Unset):
            op = self.op.value


        value = self.value


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if all_ is not UNSET:
            field_dict["all"] = all_
        if any_ is not UNSET:
            field_dict["any"] = any_
        if not_ is not UNSET:
            field_dict["not"] = not_
        if var is not UNSET:
            field_dict["var"] = var
        if op is not UNSET:
            field_dict["op"] = op
        if value is not UNSET:
            field_dict["value"] = value

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _all_ = d.pop("all", UNSET)
        all_: list[Condition] | Unset = UNSET
        if _all_ is not UNSET:
            all_ = []
            for all_item_data in _all_:
                all_item = Condition.from_dict(all_item_data)



                all_.append(all_item)


        _any_ = d.pop("any", UNSET)
        any_: list[Condition] | Unset = UNSET
        if _any_ is not UNSET:
            any_ = []
            for any_item_data in _any_:
                any_item = Condition.from_dict(any_item_data)



                any_.append(any_item)


        _not_ = d.pop("not", UNSET)
        not_: Condition | Unset
        if isinstance(_not_,  Unset):
            not_ = UNSET
        else:
            not_ = Condition.from_dict(_not_)




        var = d.pop("var", UNSET)

        _op = d.pop("op", UNSET)
        op: ConditionOp | Unset
        if isinstance(_op,  Unset):
            op = UNSET
        else:
            op = ConditionOp(_op)




        value = d.pop("value", UNSET)

        condition = cls(
            all_=all_,
            any_=any_,
            not_=not_,
            var=var,
            op=op,
            value=value,
        )

        return condition

