from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.alternative import Alternative
  from ..models.risk import Risk
  from ..models.sim_metadata import SimMetadata
  from ..models.step_estimate import StepEstimate





T = TypeVar("T", bound="Simulation")



@_attrs_define
class Simulation:
    """ The answer of a simulation.

        Attributes:
            feasible (bool): Whether the plan should run.
            status (str): `feasible`, `budget_insufficient`, `permission_denied`, `risk_too_high` or
                `invalid_plan`.
            estimated_cost_cents (float): Total cost.
            estimated_duration_ms (float): Total latency (steps run one after another).
            budget_sufficient (bool): Whether the cost fits the budget (true without one).
            permission_gaps (list[str]): Steps a policy would not allow, with why.
            risks (list[Risk]): Risks worth naming.
            step_estimates (list[StepEstimate]): Per step.
            alternatives (list[Alternative]): Cheaper ways.
            warnings (list[str]): Anything the caller should know (unknown skills, a budget nearly used up).
            metadata (SimMetadata): Figures about the plan as a whole.
            budget_remaining_cents (float | None | Unset): Budget − cost, when there is a budget.
     """

    feasible: bool
    status: str
    estimated_cost_cents: float
    estimated_duration_ms: float
    budget_sufficient: bool
    permission_gaps: list[str]
    risks: list[Risk]
    step_estimates: list[StepEstimate]
    alternatives: list[Alternative]
    warnings: list[str]
    metadata: SimMetadata
    budget_remaining_cents: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.alternative import Alternative # noqa: PLC0415
        from ..models.risk import Risk # noqa: PLC0415
        from ..models.sim_metadata import SimMetadata # noqa: PLC0415
        from ..models.step_estimate import StepEstimate # noqa: PLC0415
        feasible = self.feasible

        status = self.status

        estimated_cost_cents = self.estimated_cost_cents

        estimated_duration_ms = self.estimated_duration_ms

        budget_sufficient = self.budget_sufficient

        permission_gaps = self.permission_gaps



        risks = []
        for risks_item_data in self.risks:
            risks_item = risks_item_data.to_dict()
            risks.append(risks_item)



        step_estimates = []
        for step_estimates_item_data in self.step_estimates:
            step_estimates_item = step_estimates_item_data.to_dict()
            step_estimates.append(step_estimates_item)



        alternatives = []
        for alternatives_item_data in self.alternatives:
            alternatives_item = alternatives_item_data.to_dict()
            alternatives.append(alternatives_item)



        warnings = self.warnings



        metadata = self.metadata.to_dict()

        budget_remaining_cents: float | None | Unset
        if isinstance(self.budget_remaining_cents, Unset):
            budget_remaining_cents = UNSET
        else:
            budget_remaining_cents = self.budget_remaining_cents


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "feasible": feasible,
            "status": status,
            "estimated_cost_cents": estimated_cost_cents,
            "estimated_duration_ms": estimated_duration_ms,
            "budget_sufficient": budget_sufficient,
            "permission_gaps": permission_gaps,
            "risks": risks,
            "step_estimates": step_estimates,
            "alternatives": alternatives,
            "warnings": warnings,
            "metadata": metadata,
        })
        if budget_remaining_cents is not UNSET:
            field_dict["budget_remaining_cents"] = budget_remaining_cents

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.alternative import Alternative # noqa: PLC0415
        from ..models.risk import Risk # noqa: PLC0415
        from ..models.sim_metadata import SimMetadata # noqa: PLC0415
        from ..models.step_estimate import StepEstimate # noqa: PLC0415
        d = dict(src_dict)
        feasible = d.pop("feasible")

        status = d.pop("status")

        estimated_cost_cents = d.pop("estimated_cost_cents")

        estimated_duration_ms = d.pop("estimated_duration_ms")

        budget_sufficient = d.pop("budget_sufficient")

        permission_gaps = cast(list[str], d.pop("permission_gaps"))


        risks = []
        _risks = d.pop("risks")
        for risks_item_data in (_risks):
            risks_item = Risk.from_dict(risks_item_data)



            risks.append(risks_item)


        step_estimates = []
        _step_estimates = d.pop("step_estimates")
        for step_estimates_item_data in (_step_estimates):
            step_estimates_item = StepEstimate.from_dict(step_estimates_item_data)



            step_estimates.append(step_estimates_item)


        alternatives = []
        _alternatives = d.pop("alternatives")
        for alternatives_item_data in (_alternatives):
            alternatives_item = Alternative.from_dict(alternatives_item_data)



            alternatives.append(alternatives_item)


        warnings = cast(list[str], d.pop("warnings"))


        metadata = SimMetadata.from_dict(d.pop("metadata"))




        def _parse_budget_remaining_cents(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        budget_remaining_cents = _parse_budget_remaining_cents(d.pop("budget_remaining_cents", UNSET))


        simulation = cls(
            feasible=feasible,
            status=status,
            estimated_cost_cents=estimated_cost_cents,
            estimated_duration_ms=estimated_duration_ms,
            budget_sufficient=budget_sufficient,
            permission_gaps=permission_gaps,
            risks=risks,
            step_estimates=step_estimates,
            alternatives=alternatives,
            warnings=warnings,
            metadata=metadata,
            budget_remaining_cents=budget_remaining_cents,
        )


        simulation.additional_properties = d
        return simulation

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
