from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.source import Source






T = TypeVar("T", bound="StepEstimate")



@_attrs_define
class StepEstimate:
    """ One step's estimate.

        Attributes:
            step_index (int): Position in the plan.
            skill (str): The skill.
            iterations (int): Repetitions.
            base_cost_cents (float): Cost of one execution.
            cost_cents (float): Cost of all of them.
            base_latency_ms (float): Latency of one execution.
            latency_ms (float): Latency of all of them.
            risk (float): Probability that the step fails.
            source (Source): Where a step's figures come from.
     """

    step_index: int
    skill: str
    iterations: int
    base_cost_cents: float
    cost_cents: float
    base_latency_ms: float
    latency_ms: float
    risk: float
    source: Source
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        step_index = self.step_index

        skill = self.skill

        iterations = self.iterations

        base_cost_cents = self.base_cost_cents

        cost_cents = self.cost_cents

        base_latency_ms = self.base_latency_ms

        latency_ms = self.latency_ms

        risk = self.risk

        source = self.source.value


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "step_index": step_index,
            "skill": skill,
            "iterations": iterations,
            "base_cost_cents": base_cost_cents,
            "cost_cents": cost_cents,
            "base_latency_ms": base_latency_ms,
            "latency_ms": latency_ms,
            "risk": risk,
            "source": source,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        step_index = d.pop("step_index")

        skill = d.pop("skill")

        iterations = d.pop("iterations")

        base_cost_cents = d.pop("base_cost_cents")

        cost_cents = d.pop("cost_cents")

        base_latency_ms = d.pop("base_latency_ms")

        latency_ms = d.pop("latency_ms")

        risk = d.pop("risk")

        source = Source(d.pop("source"))




        step_estimate = cls(
            step_index=step_index,
            skill=skill,
            iterations=iterations,
            base_cost_cents=base_cost_cents,
            cost_cents=cost_cents,
            base_latency_ms=base_latency_ms,
            latency_ms=latency_ms,
            risk=risk,
            source=source,
        )


        step_estimate.additional_properties = d
        return step_estimate

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
