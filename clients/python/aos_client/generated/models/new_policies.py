from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="NewPolicies")



@_attrs_define
class NewPolicies:
    """ The body of `PUT /v1/policies`.

        Attributes:
            text (str): The Cedar text (empty: no policies).
            default_deny (bool | Unset): Refuse steps no policy applies to.
            allow_deny_all (bool | Unset): Accept a policy that forbids every step.
            base_version (int | None | Unset): The version this change was written against (a newer one is a 409).
     """

    text: str
    default_deny: bool | Unset = UNSET
    allow_deny_all: bool | Unset = UNSET
    base_version: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        text = self.text

        default_deny = self.default_deny

        allow_deny_all = self.allow_deny_all

        base_version: int | None | Unset
        if isinstance(self.base_version, Unset):
            base_version = UNSET
        else:
            base_version = self.base_version


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "text": text,
        })
        if default_deny is not UNSET:
            field_dict["default_deny"] = default_deny
        if allow_deny_all is not UNSET:
            field_dict["allow_deny_all"] = allow_deny_all
        if base_version is not UNSET:
            field_dict["base_version"] = base_version

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        text = d.pop("text")

        default_deny = d.pop("default_deny", UNSET)

        allow_deny_all = d.pop("allow_deny_all", UNSET)

        def _parse_base_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        base_version = _parse_base_version(d.pop("base_version", UNSET))


        new_policies = cls(
            text=text,
            default_deny=default_deny,
            allow_deny_all=allow_deny_all,
            base_version=base_version,
        )

        return new_policies

