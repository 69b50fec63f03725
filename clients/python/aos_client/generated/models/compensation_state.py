from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.node_status import NodeStatus
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.outcome_error import OutcomeError





T = TypeVar("T", bound="CompensationState")



@_attrs_define
class CompensationState:
    """ One compensation of the compensation phase.

        Attributes:
            node (str): The node being undone.
            status (NodeStatus): Status of one node.
            run_id (None | str | Unset):
            error (None | OutcomeError | Unset):
     """

    node: str
    status: NodeStatus
    run_id: None | str | Unset = UNSET
    error: None | OutcomeError | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        node = self.node

        status = self.status.value

        run_id: None | str | Unset
        if isinstance(self.run_id, Unset):
            run_id = UNSET
        else:
            run_id = self.run_id

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, OutcomeError):
            error = self.error.to_dict()
        else:
            error = self.error


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "node": node,
            "status": status,
        })
        if run_id is not UNSET:
            field_dict["run_id"] = run_id
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        d = dict(src_dict)
        node = d.pop("node")

        status = NodeStatus(d.pop("status"))




        def _parse_run_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        run_id = _parse_run_id(d.pop("run_id", UNSET))


        def _parse_error(data: object) -> None | OutcomeError | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_1 = OutcomeError.from_dict(data)



                return error_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OutcomeError | Unset, data)

        error = _parse_error(d.pop("error", UNSET))


        compensation_state = cls(
            node=node,
            status=status,
            run_id=run_id,
            error=error,
        )


        compensation_state.additional_properties = d
        return compensation_state

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
