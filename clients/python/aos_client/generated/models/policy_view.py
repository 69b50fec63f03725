from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="PolicyView")



@_attrs_define
class PolicyView:
    """ A version of a tenant's policy set.

        Attributes:
            version (int): 1 for the first, then one more per change.
            text (str): The Cedar text, as applied.
            policies (int): How many policies it holds.
            default_deny (bool): Whether a step no policy applies to is refused.
            allow_deny_all (bool): Whether a policy forbidding everything was allowed in.
            created_by (str): The key that applied it.
            created_at_ms (int): When, ms since the epoch.
     """

    version: int
    text: str
    policies: int
    default_deny: bool
    allow_deny_all: bool
    created_by: str
    created_at_ms: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        version = self.version

        text = self.text

        policies = self.policies

        default_deny = self.default_deny

        allow_deny_all = self.allow_deny_all

        created_by = self.created_by

        created_at_ms = self.created_at_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "version": version,
            "text": text,
            "policies": policies,
            "default_deny": default_deny,
            "allow_deny_all": allow_deny_all,
            "created_by": created_by,
            "created_at_ms": created_at_ms,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        version = d.pop("version")

        text = d.pop("text")

        policies = d.pop("policies")

        default_deny = d.pop("default_deny")

        allow_deny_all = d.pop("allow_deny_all")

        created_by = d.pop("created_by")

        created_at_ms = d.pop("created_at_ms")

        policy_view = cls(
            version=version,
            text=text,
            policies=policies,
            default_deny=default_deny,
            allow_deny_all=allow_deny_all,
            created_by=created_by,
            created_at_ms=created_at_ms,
        )


        policy_view.additional_properties = d
        return policy_view

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
