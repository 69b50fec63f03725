from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="FlagEvaluation")



@_attrs_define
class FlagEvaluation:
    """ What a flag says for a stable key.

        Attributes:
            key (str): The flag.
            version (int): Its version.
            environment (str): The environment judged in.
            id (str): The stable key.
            value (bool): What it serves.
            reason (str): Why.
            bucket (int | None | Unset): The key's rollout bucket, 0-9999.
            threshold (int | None | Unset): The bucket below which it serves `true`.
     """

    key: str
    version: int
    environment: str
    id: str
    value: bool
    reason: str
    bucket: int | None | Unset = UNSET
    threshold: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        key = self.key

        version = self.version

        environment = self.environment

        id = self.id

        value = self.value

        reason = self.reason

        bucket: int | None | Unset
        if isinstance(self.bucket, Unset):
            bucket = UNSET
        else:
            bucket = self.bucket

        threshold: int | None | Unset
        if isinstance(self.threshold, Unset):
            threshold = UNSET
        else:
            threshold = self.threshold


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "key": key,
            "version": version,
            "environment": environment,
            "id": id,
            "value": value,
            "reason": reason,
        })
        if bucket is not UNSET:
            field_dict["bucket"] = bucket
        if threshold is not UNSET:
            field_dict["threshold"] = threshold

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        key = d.pop("key")

        version = d.pop("version")

        environment = d.pop("environment")

        id = d.pop("id")

        value = d.pop("value")

        reason = d.pop("reason")

        def _parse_bucket(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        bucket = _parse_bucket(d.pop("bucket", UNSET))


        def _parse_threshold(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        threshold = _parse_threshold(d.pop("threshold", UNSET))


        flag_evaluation = cls(
            key=key,
            version=version,
            environment=environment,
            id=id,
            value=value,
            reason=reason,
            bucket=bucket,
            threshold=threshold,
        )


        flag_evaluation.additional_properties = d
        return flag_evaluation

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
