from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="Cause")



@_attrs_define
class Cause:
    """ What caused a transfer: ids derive from it, so the same cause makes the same id and a
    redelivered step settles nothing twice.

        Attributes:
            run (str): The run (or another owner: an execution, an operator's grant).
            step (int): The step within it.
            attempt (int): The attempt that caused it (0 when the charge is per step, not per attempt).
     """

    run: str
    step: int
    attempt: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        run = self.run

        step = self.step

        attempt = self.attempt


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "run": run,
            "step": step,
            "attempt": attempt,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        run = d.pop("run")

        step = d.pop("step")

        attempt = d.pop("attempt")

        cause = cls(
            run=run,
            step=step,
            attempt=attempt,
        )


        cause.additional_properties = d
        return cause

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
