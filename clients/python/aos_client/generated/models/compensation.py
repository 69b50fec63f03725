from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset






T = TypeVar("T", bound="Compensation")



@_attrs_define
class Compensation:
    """ A skill call that undoes a completed node when the workflow fails.

        Attributes:
            skill (str): Skill to call.
            input_ (Any | Unset): Its input; may reference the node's own output (`${steps.<self>.output...}`).
     """

    skill: str
    input_: Any | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        skill = self.skill

        input_ = self.input_


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "skill": skill,
        })
        if input_ is not UNSET:
            field_dict["input"] = input_

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        skill = d.pop("skill")

        input_ = d.pop("input", UNSET)

        compensation = cls(
            skill=skill,
            input_=input_,
        )

        return compensation

