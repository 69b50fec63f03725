from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.node_status import NodeStatus
from ..models.node_type import NodeType
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.items_view import ItemsView
  from ..models.outcome_error import OutcomeError





T = TypeVar("T", bound="NodeView")



@_attrs_define
class NodeView:
    """ A node of an execution.

        Attributes:
            id (str): Its id.
            type_ (NodeType): Kind of a node.
            status (NodeStatus): Status of one node.
            output (Any | Unset): Its output.
            error (None | OutcomeError | Unset):
            started_at_ms (int | None | Unset): When it started, ms since the epoch.
            ended_at_ms (int | None | Unset): When it ended.
            duration_ms (int | None | Unset): How long it took.
            run_id (None | str | Unset):
            items (ItemsView | None | Unset):
            approval_id (None | str | Unset):
            wake_at_ms (int | None | Unset): When a wait node wakes.
     """

    id: str
    type_: NodeType
    status: NodeStatus
    output: Any | Unset = UNSET
    error: None | OutcomeError | Unset = UNSET
    started_at_ms: int | None | Unset = UNSET
    ended_at_ms: int | None | Unset = UNSET
    duration_ms: int | None | Unset = UNSET
    run_id: None | str | Unset = UNSET
    items: ItemsView | None | Unset = UNSET
    approval_id: None | str | Unset = UNSET
    wake_at_ms: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.items_view import ItemsView # noqa: PLC0415
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        id = self.id

        type_ = self.type_.value

        status = self.status.value

        output = self.output

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, OutcomeError):
            error = self.error.to_dict()
        else:
            error = self.error

        started_at_ms: int | None | Unset
        if isinstance(self.started_at_ms, Unset):
            started_at_ms = UNSET
        else:
            started_at_ms = self.started_at_ms

        ended_at_ms: int | None | Unset
        if isinstance(self.ended_at_ms, Unset):
            ended_at_ms = UNSET
        else:
            ended_at_ms = self.ended_at_ms

        duration_ms: int | None | Unset
        if isinstance(self.duration_ms, Unset):
            duration_ms = UNSET
        else:
            duration_ms = self.duration_ms

        run_id: None | str | Unset
        if isinstance(self.run_id, Unset):
            run_id = UNSET
        else:
            run_id = self.run_id

        items: dict[str, Any] | None | Unset
        if isinstance(self.items, Unset):
            items = UNSET
        elif isinstance(self.items, ItemsView):
            items = self.items.to_dict()
        else:
            items = self.items

        approval_id: None | str | Unset
        if isinstance(self.approval_id, Unset):
            approval_id = UNSET
        else:
            approval_id = self.approval_id

        wake_at_ms: int | None | Unset
        if isinstance(self.wake_at_ms, Unset):
            wake_at_ms = UNSET
        else:
            wake_at_ms = self.wake_at_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "type": type_,
            "status": status,
        })
        if output is not UNSET:
            field_dict["output"] = output
        if error is not UNSET:
            field_dict["error"] = error
        if started_at_ms is not UNSET:
            field_dict["started_at_ms"] = started_at_ms
        if ended_at_ms is not UNSET:
            field_dict["ended_at_ms"] = ended_at_ms
        if duration_ms is not UNSET:
            field_dict["duration_ms"] = duration_ms
        if run_id is not UNSET:
            field_dict["run_id"] = run_id
        if items is not UNSET:
            field_dict["items"] = items
        if approval_id is not UNSET:
            field_dict["approval_id"] = approval_id
        if wake_at_ms is not UNSET:
            field_dict["wake_at_ms"] = wake_at_ms

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.items_view import ItemsView # noqa: PLC0415
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        d = dict(src_dict)
        id = d.pop("id")

        type_ = NodeType(d.pop("type"))




        status = NodeStatus(d.pop("status"))




        output = d.pop("output", UNSET)

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


        def _parse_started_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        started_at_ms = _parse_started_at_ms(d.pop("started_at_ms", UNSET))


        def _parse_ended_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        ended_at_ms = _parse_ended_at_ms(d.pop("ended_at_ms", UNSET))


        def _parse_duration_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        duration_ms = _parse_duration_ms(d.pop("duration_ms", UNSET))


        def _parse_run_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        run_id = _parse_run_id(d.pop("run_id", UNSET))


        def _parse_items(data: object) -> ItemsView | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                items_type_1 = ItemsView.from_dict(data)



                return items_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ItemsView | None | Unset, data)

        items = _parse_items(d.pop("items", UNSET))


        def _parse_approval_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        approval_id = _parse_approval_id(d.pop("approval_id", UNSET))


        def _parse_wake_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        wake_at_ms = _parse_wake_at_ms(d.pop("wake_at_ms", UNSET))


        node_view = cls(
            id=id,
            type_=type_,
            status=status,
            output=output,
            error=error,
            started_at_ms=started_at_ms,
            ended_at_ms=ended_at_ms,
            duration_ms=duration_ms,
            run_id=run_id,
            items=items,
            approval_id=approval_id,
            wake_at_ms=wake_at_ms,
        )


        node_view.additional_properties = d
        return node_view

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
