from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.runs_events_response_200_event import RunsEventsResponse200Event
from ..types import UNSET, Unset






T = TypeVar("T", bound="RunsEventsResponse200")



@_attrs_define
class RunsEventsResponse200:
    """ Events `step` (data: the step as `GET /v1/runs/{id}/steps` shows it; a finished step's event id is its index) as
    steps change, then `run` (the run) at its end. Send `Last-Event-ID` to resume after a finished step. A stream ends
    after 25 s on AWS: reconnect with the last id.

        Attributes:
            event (RunsEventsResponse200Event):
            data (str): The JSON of what changed.
            id (str | Unset):
            retry (int | Unset):
     """

    event: RunsEventsResponse200Event
    data: str
    id: str | Unset = UNSET
    retry: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        event = self.event.value

        data = self.data

        id = self.id

        retry = self.retry


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "event": event,
            "data": data,
        })
        if id is not UNSET:
            field_dict["id"] = id
        if retry is not UNSET:
            field_dict["retry"] = retry

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        event = RunsEventsResponse200Event(d.pop("event"))




        data = d.pop("data")

        id = d.pop("id", UNSET)

        retry = d.pop("retry", UNSET)

        runs_events_response_200 = cls(
            event=event,
            data=data,
            id=id,
            retry=retry,
        )


        runs_events_response_200.additional_properties = d
        return runs_events_response_200

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
