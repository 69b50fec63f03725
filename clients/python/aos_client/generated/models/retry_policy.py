from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset






T = TypeVar("T", bound="RetryPolicy")



@_attrs_define
class RetryPolicy:
    """ How a task or map node is retried.

        Attributes:
            max_attempts (int | Unset): Attempts in all (1 = no retry); 1..=10, default 3.
            backoff_s (int | Unset): Delay before the first retry, in seconds (doubling after each); 1..=3600, default 1.
     """

    max_attempts: int | Unset = UNSET
    backoff_s: int | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        max_attempts = self.max_attempts

        backoff_s = self.backoff_s


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if max_attempts is not UNSET:
            field_dict["max_attempts"] = max_attempts
        if backoff_s is not UNSET:
            field_dict["backoff_s"] = backoff_s

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        max_attempts = d.pop("max_attempts", UNSET)

        backoff_s = d.pop("backoff_s", UNSET)

        retry_policy = cls(
            max_attempts=max_attempts,
            backoff_s=backoff_s,
        )

        return retry_policy

