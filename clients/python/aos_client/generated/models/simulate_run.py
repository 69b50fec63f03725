from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="SimulateRun")



@_attrs_define
class SimulateRun:
    """ The body of `POST /v1/runs/simulate`.

        Attributes:
            plan (list[Any] | None | Unset): The steps: as in a run's plan, each with `iterations` (how many times it runs,
                default 1).
            goal (None | str | Unset): A goal (refused: a goal's steps are decided while it runs).
            budget_cents (float | None | Unset): The budget to judge the plan against, in cents.
     """

    plan: list[Any] | None | Unset = UNSET
    goal: None | str | Unset = UNSET
    budget_cents: float | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        plan: list[Any] | None | Unset
        if isinstance(self.plan, Unset):
            plan = UNSET
        elif isinstance(self.plan, list):
            plan = self.plan


        else:
            plan = self.plan

        goal: None | str | Unset
        if isinstance(self.goal, Unset):
            goal = UNSET
        else:
            goal = self.goal

        budget_cents: float | None | Unset
        if isinstance(self.budget_cents, Unset):
            budget_cents = UNSET
        else:
            budget_cents = self.budget_cents


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if plan is not UNSET:
            field_dict["plan"] = plan
        if goal is not UNSET:
            field_dict["goal"] = goal
        if budget_cents is not UNSET:
            field_dict["budget_cents"] = budget_cents

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_plan(data: object) -> list[Any] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                plan_type_0 = cast(list[Any], data)

                return plan_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Any] | None | Unset, data)

        plan = _parse_plan(d.pop("plan", UNSET))


        def _parse_goal(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        goal = _parse_goal(d.pop("goal", UNSET))


        def _parse_budget_cents(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        budget_cents = _parse_budget_cents(d.pop("budget_cents", UNSET))


        simulate_run = cls(
            plan=plan,
            goal=goal,
            budget_cents=budget_cents,
        )

        return simulate_run

