from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.category import Category
from ..models.decision import Decision






T = TypeVar("T", bound="Violation")



@_attrs_define
class Violation:
    """ A policy that applied and did not allow.

        Attributes:
            policy (str): The policy (`@id`, or Cedar's `policyN`).
            category (Category): A policy's category, highest first.
            effect (Decision): What the policies say of a step.
            message (str): Its `@reason`, or a sentence naming it.
     """

    policy: str
    category: Category
    effect: Decision
    message: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        policy = self.policy

        category = self.category.value

        effect = self.effect.value

        message = self.message


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "policy": policy,
            "category": category,
            "effect": effect,
            "message": message,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        policy = d.pop("policy")

        category = Category(d.pop("category"))




        effect = Decision(d.pop("effect"))




        message = d.pop("message")

        violation = cls(
            policy=policy,
            category=category,
            effect=effect,
            message=message,
        )


        violation.additional_properties = d
        return violation

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
