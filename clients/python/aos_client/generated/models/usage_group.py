from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="UsageGroup")



@_attrs_define
class UsageGroup:
    """ One group of a usage report.

        Attributes:
            steps (int): Steps run.
            tokens_in (int): Model tokens in.
            tokens_out (int): Model tokens out.
            cache_hits (int): Model calls answered from the cache.
            tokens_saved (int): Tokens those saved.
            cost_cents (float): What was charged, in cents.
            key (str): The day, workflow, skill or model.
            runs (int): Runs that ended in the span with some of it.
     """

    steps: int
    tokens_in: int
    tokens_out: int
    cache_hits: int
    tokens_saved: int
    cost_cents: float
    key: str
    runs: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        steps = self.steps

        tokens_in = self.tokens_in

        tokens_out = self.tokens_out

        cache_hits = self.cache_hits

        tokens_saved = self.tokens_saved

        cost_cents = self.cost_cents

        key = self.key

        runs = self.runs


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "steps": steps,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cache_hits": cache_hits,
            "tokens_saved": tokens_saved,
            "cost_cents": cost_cents,
            "key": key,
            "runs": runs,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        steps = d.pop("steps")

        tokens_in = d.pop("tokens_in")

        tokens_out = d.pop("tokens_out")

        cache_hits = d.pop("cache_hits")

        tokens_saved = d.pop("tokens_saved")

        cost_cents = d.pop("cost_cents")

        key = d.pop("key")

        runs = d.pop("runs")

        usage_group = cls(
            steps=steps,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cache_hits=cache_hits,
            tokens_saved=tokens_saved,
            cost_cents=cost_cents,
            key=key,
            runs=runs,
        )


        usage_group.additional_properties = d
        return usage_group

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
