from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="EnvOverride")



@_attrs_define
class EnvOverride:
    """ An environment's override of the flag's defaults.

        Attributes:
            enabled (bool | None | Unset): On or off there.
            rollout_percent (float | None | Unset): The rollout there, percent.
     """

    enabled: bool | None | Unset = UNSET
    rollout_percent: float | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        enabled: bool | None | Unset
        if isinstance(self.enabled, Unset):
            enabled = UNSET
        else:
            enabled = self.enabled

        rollout_percent: float | None | Unset
        if isinstance(self.rollout_percent, Unset):
            rollout_percent = UNSET
        else:
            rollout_percent = self.rollout_percent


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if enabled is not UNSET:
            field_dict["enabled"] = enabled
        if rollout_percent is not UNSET:
            field_dict["rollout_percent"] = rollout_percent

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_enabled(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        enabled = _parse_enabled(d.pop("enabled", UNSET))


        def _parse_rollout_percent(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        rollout_percent = _parse_rollout_percent(d.pop("rollout_percent", UNSET))


        env_override = cls(
            enabled=enabled,
            rollout_percent=rollout_percent,
        )

        return env_override

