from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="CallerLink")



@_attrs_define
class CallerLink:
    """ Where a child run reports (an `agent_spawn` / `agent_invoke` step of another run).

        Attributes:
            run_id (str): A run id: `run_` and lower-case letters, digits, '_' or '-'.
            step_index (int): Its waiting step.
            depth (int): How deep the child is (a top-level run's children are at depth 1).
            correlation_id (str): The caller's name for this child, echoed in the result.
     """

    run_id: str
    step_index: int
    depth: int
    correlation_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        run_id = self.run_id

        step_index = self.step_index

        depth = self.depth

        correlation_id = self.correlation_id


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "run_id": run_id,
            "step_index": step_index,
            "depth": depth,
            "correlation_id": correlation_id,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        run_id = d.pop("run_id")

        step_index = d.pop("step_index")

        depth = d.pop("depth")

        correlation_id = d.pop("correlation_id")

        caller_link = cls(
            run_id=run_id,
            step_index=step_index,
            depth=depth,
            correlation_id=correlation_id,
        )


        caller_link.additional_properties = d
        return caller_link

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
