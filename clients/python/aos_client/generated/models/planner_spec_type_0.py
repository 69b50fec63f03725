from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.planner_spec_type_0_type import PlannerSpecType0Type
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="PlannerSpecType0")



@_attrs_define
class PlannerSpecType0:
    """ A model: the goal and the allowed skills' schemas in, the next steps out.

        Attributes:
            type_ (PlannerSpecType0Type):
            provider (None | str | Unset): Provider name (`anthropic`, `openai`, `local`, `bedrock`, or a configured one);
                filled in from the deployment's default when absent.
            model (None | str | Unset): Model id; filled in from the deployment's default when absent.
            temperature (float | Unset): Sampling temperature (default 0: decisions are reproducible and cached).
            max_tokens (int | Unset): Most tokens per decision (default 2048).
     """

    type_: PlannerSpecType0Type
    provider: None | str | Unset = UNSET
    model: None | str | Unset = UNSET
    temperature: float | Unset = UNSET
    max_tokens: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_.value

        provider: None | str | Unset
        if isinstance(self.provider, Unset):
            provider = UNSET
        else:
            provider = self.provider

        model: None | str | Unset
        if isinstance(self.model, Unset):
            model = UNSET
        else:
            model = self.model

        temperature = self.temperature

        max_tokens = self.max_tokens


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "type": type_,
        })
        if provider is not UNSET:
            field_dict["provider"] = provider
        if model is not UNSET:
            field_dict["model"] = model
        if temperature is not UNSET:
            field_dict["temperature"] = temperature
        if max_tokens is not UNSET:
            field_dict["max_tokens"] = max_tokens

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = PlannerSpecType0Type(d.pop("type"))




        def _parse_provider(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        provider = _parse_provider(d.pop("provider", UNSET))


        def _parse_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        model = _parse_model(d.pop("model", UNSET))


        temperature = d.pop("temperature", UNSET)

        max_tokens = d.pop("max_tokens", UNSET)

        planner_spec_type_0 = cls(
            type_=type_,
            provider=provider,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
        )


        planner_spec_type_0.additional_properties = d
        return planner_spec_type_0

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
