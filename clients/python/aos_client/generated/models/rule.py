from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.flag_op import FlagOp
from typing import cast






T = TypeVar("T", bound="Rule")



@_attrs_define
class Rule:
    """ A targeting rule: when the attribute matches, the flag serves `serve` (the first
    rule that matches decides, before the rollout).

        Attributes:
            attribute (str): The attribute looked at (`skill`, `kind`, `run_id`, `workflow`, `agent`, `depth`, or
                any a caller of the evaluate route passes).
            op (FlagOp): How a rule compares an attribute.
            values (list[str]): Against what.
            serve (bool): The answer when it matches.
     """

    attribute: str
    op: FlagOp
    values: list[str]
    serve: bool





    def to_dict(self) -> dict[str, Any]:
        attribute = self.attribute

        op = self.op.value

        values = self.values



        serve = self.serve


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "attribute": attribute,
            "op": op,
            "values": values,
            "serve": serve,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        attribute = d.pop("attribute")

        op = FlagOp(d.pop("op"))




        values = cast(list[str], d.pop("values"))


        serve = d.pop("serve")

        rule = cls(
            attribute=attribute,
            op=op,
            values=values,
            serve=serve,
        )

        return rule

