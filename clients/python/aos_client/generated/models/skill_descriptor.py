from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.idempotency_class import IdempotencyClass






T = TypeVar("T", bound="SkillDescriptor")



@_attrs_define
class SkillDescriptor:
    """ The declaration of a skill, as listed by `GET /v1/skills`.

        Attributes:
            name (str): Unique name used in plans.
            version (str): Semantic version.
            description (str): One line on what it does.
            input_schema (Any): JSON Schema of the input.
            output_schema (Any): JSON Schema of the output.
            idempotency (IdempotencyClass): What running a skill twice does, which decides how AOS recovers a step whose
                worker
                died after the skill may have had its effect.
            timeout_ms (int): Default per-attempt timeout in milliseconds.
     """

    name: str
    version: str
    description: str
    input_schema: Any
    output_schema: Any
    idempotency: IdempotencyClass
    timeout_ms: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        name = self.name

        version = self.version

        description = self.description

        input_schema = self.input_schema

        output_schema = self.output_schema

        idempotency = self.idempotency.value

        timeout_ms = self.timeout_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "name": name,
            "version": version,
            "description": description,
            "input_schema": input_schema,
            "output_schema": output_schema,
            "idempotency": idempotency,
            "timeout_ms": timeout_ms,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        version = d.pop("version")

        description = d.pop("description")

        input_schema = d.pop("input_schema")

        output_schema = d.pop("output_schema")

        idempotency = IdempotencyClass(d.pop("idempotency"))




        timeout_ms = d.pop("timeout_ms")

        skill_descriptor = cls(
            name=name,
            version=version,
            description=description,
            input_schema=input_schema,
            output_schema=output_schema,
            idempotency=idempotency,
            timeout_ms=timeout_ms,
        )


        skill_descriptor.additional_properties = d
        return skill_descriptor

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
