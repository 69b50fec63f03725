from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.agent_options import AgentOptions
  from ..models.plan_step import PlanStep





T = TypeVar("T", bound="SubmitRun")



@_attrs_define
class SubmitRun:
    """ The body of `POST /v1/runs`: a plan, or a goal for an agent.

        Attributes:
            plan (list[PlanStep] | None | Unset): The steps (a run given a plan).
            goal (None | str | Unset): What an agent should achieve (a run given a goal and no plan: a planner decides
                its steps).
            agent (AgentOptions | None | Unset):
            input_ (Any | Unset): Run input, referenced as `${input...}`.
            base_seed (int | None | Unset): Base of the step seeds; random when absent.
            budget_cents (int | None | Unset): The most the run may spend, in cents (credits): a step whose estimate would
                take
                it past this does not run, and the run fails with `ERR_BUDGET_EXCEEDED`.
            notify_url (None | str | Unset): Where signed notices about the run go (`budget.warning` as it passes 80 % of
                its
                budget or its tenant's limits), signed per Standard Webhooks.
     """

    plan: list[PlanStep] | None | Unset = UNSET
    goal: None | str | Unset = UNSET
    agent: AgentOptions | None | Unset = UNSET
    input_: Any | Unset = UNSET
    base_seed: int | None | Unset = UNSET
    budget_cents: int | None | Unset = UNSET
    notify_url: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.agent_options import AgentOptions # noqa: PLC0415
        from ..models.plan_step import PlanStep # noqa: PLC0415
        plan: list[dict[str, Any]] | None | Unset
        if isinstance(self.plan, Unset):
            plan = UNSET
        elif isinstance(self.plan, list):
            plan = []
            for plan_type_0_item_data in self.plan:
                plan_type_0_item = plan_type_0_item_data.to_dict()
                plan.append(plan_type_0_item)


        else:
            plan = self.plan

        goal: None | str | Unset
        if isinstance(self.goal, Unset):
            goal = UNSET
        else:
            goal = self.goal

        agent: dict[str, Any] | None | Unset
        if isinstance(self.agent, Unset):
            agent = UNSET
        elif isinstance(self.agent, AgentOptions):
            agent = self.agent.to_dict()
        else:
            agent = self.agent

        input_ = self.input_

        base_seed: int | None | Unset
        if isinstance(self.base_seed, Unset):
            base_seed = UNSET
        else:
            base_seed = self.base_seed

        budget_cents: int | None | Unset
        if isinstance(self.budget_cents, Unset):
            budget_cents = UNSET
        else:
            budget_cents = self.budget_cents

        notify_url: None | str | Unset
        if isinstance(self.notify_url, Unset):
            notify_url = UNSET
        else:
            notify_url = self.notify_url


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if plan is not UNSET:
            field_dict["plan"] = plan
        if goal is not UNSET:
            field_dict["goal"] = goal
        if agent is not UNSET:
            field_dict["agent"] = agent
        if input_ is not UNSET:
            field_dict["input"] = input_
        if base_seed is not UNSET:
            field_dict["base_seed"] = base_seed
        if budget_cents is not UNSET:
            field_dict["budget_cents"] = budget_cents
        if notify_url is not UNSET:
            field_dict["notify_url"] = notify_url

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.agent_options import AgentOptions # noqa: PLC0415
        from ..models.plan_step import PlanStep # noqa: PLC0415
        d = dict(src_dict)
        def _parse_plan(data: object) -> list[PlanStep] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                plan_type_0 = []
                _plan_type_0 = data
                for plan_type_0_item_data in (_plan_type_0):
                    plan_type_0_item = PlanStep.from_dict(plan_type_0_item_data)



                    plan_type_0.append(plan_type_0_item)

                return plan_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[PlanStep] | None | Unset, data)

        plan = _parse_plan(d.pop("plan", UNSET))


        def _parse_goal(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        goal = _parse_goal(d.pop("goal", UNSET))


        def _parse_agent(data: object) -> AgentOptions | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                agent_type_1 = AgentOptions.from_dict(data)



                return agent_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(AgentOptions | None | Unset, data)

        agent = _parse_agent(d.pop("agent", UNSET))


        input_ = d.pop("input", UNSET)

        def _parse_base_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        base_seed = _parse_base_seed(d.pop("base_seed", UNSET))


        def _parse_budget_cents(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        budget_cents = _parse_budget_cents(d.pop("budget_cents", UNSET))


        def _parse_notify_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        notify_url = _parse_notify_url(d.pop("notify_url", UNSET))


        submit_run = cls(
            plan=plan,
            goal=goal,
            agent=agent,
            input_=input_,
            base_seed=base_seed,
            budget_cents=budget_cents,
            notify_url=notify_url,
        )

        return submit_run

