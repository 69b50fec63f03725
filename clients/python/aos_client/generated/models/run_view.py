from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.run_status import RunStatus
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.caller_link import CallerLink
  from ..models.outcome_error import OutcomeError
  from ..models.parent_view import ParentView
  from ..models.plan_step import PlanStep





T = TypeVar("T", bound="RunView")



@_attrs_define
class RunView:
    """ A run.

        Attributes:
            id (str): A run id: `run_` and lower-case letters, digits, '_' or '-'.
            tenant_id (str): A tenant id: `ten_` and lower-case letters, digits, '_' or '-'.
            status (RunStatus): Lifecycle of a run. `Running -> Running` is allowed: a run stays running while
                it moves from one step to the next.
            plan (list[PlanStep]): Its steps (a goal-driven run's grow as its planner decides).
            input_ (Any): The run input that step inputs reference as `${input...}`.
            base_seed (int): Base of the step seeds.
            steps_total (int): Steps in the plan.
            steps_done (int): Steps finished.
            genesis_hash (str): Hash the checkpoint chain starts from.
            last_hash (str): Hash of the last checkpoint.
            created_at_ms (int): Creation time, ms since the epoch.
            updated_at_ms (int): Last change, ms since the epoch.
            spent_cents (float): What its steps were charged, in cents.
            output (Any | Unset): The last step's output, once succeeded.
            error (None | OutcomeError | Unset):
            parent (None | ParentView | Unset):
            caller (CallerLink | None | Unset):
            budget_cents (float | None | Unset): The most it may spend, in cents (credits).
            goal (Any | Unset): A goal-driven run's goal.
     """

    id: str
    tenant_id: str
    status: RunStatus
    plan: list[PlanStep]
    input_: Any
    base_seed: int
    steps_total: int
    steps_done: int
    genesis_hash: str
    last_hash: str
    created_at_ms: int
    updated_at_ms: int
    spent_cents: float
    output: Any | Unset = UNSET
    error: None | OutcomeError | Unset = UNSET
    parent: None | ParentView | Unset = UNSET
    caller: CallerLink | None | Unset = UNSET
    budget_cents: float | None | Unset = UNSET
    goal: Any | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.caller_link import CallerLink # noqa: PLC0415
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        from ..models.parent_view import ParentView # noqa: PLC0415
        from ..models.plan_step import PlanStep # noqa: PLC0415
        id = self.id

        tenant_id = self.tenant_id

        status = self.status.value

        plan = []
        for plan_item_data in self.plan:
            plan_item = plan_item_data.to_dict()
            plan.append(plan_item)



        input_ = self.input_

        base_seed = self.base_seed

        steps_total = self.steps_total

        steps_done = self.steps_done

        genesis_hash = self.genesis_hash

        last_hash = self.last_hash

        created_at_ms = self.created_at_ms

        updated_at_ms = self.updated_at_ms

        spent_cents = self.spent_cents

        output = self.output

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, OutcomeError):
            error = self.error.to_dict()
        else:
            error = self.error

        parent: dict[str, Any] | None | Unset
        if isinstance(self.parent, Unset):
            parent = UNSET
        elif isinstance(self.parent, ParentView):
            parent = self.parent.to_dict()
        else:
            parent = self.parent

        caller: dict[str, Any] | None | Unset
        if isinstance(self.caller, Unset):
            caller = UNSET
        elif isinstance(self.caller, CallerLink):
            caller = self.caller.to_dict()
        else:
            caller = self.caller

        budget_cents: float | None | Unset
        if isinstance(self.budget_cents, Unset):
            budget_cents = UNSET
        else:
            budget_cents = self.budget_cents

        goal = self.goal


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "tenant_id": tenant_id,
            "status": status,
            "plan": plan,
            "input": input_,
            "base_seed": base_seed,
            "steps_total": steps_total,
            "steps_done": steps_done,
            "genesis_hash": genesis_hash,
            "last_hash": last_hash,
            "created_at_ms": created_at_ms,
            "updated_at_ms": updated_at_ms,
            "spent_cents": spent_cents,
        })
        if output is not UNSET:
            field_dict["output"] = output
        if error is not UNSET:
            field_dict["error"] = error
        if parent is not UNSET:
            field_dict["parent"] = parent
        if caller is not UNSET:
            field_dict["caller"] = caller
        if budget_cents is not UNSET:
            field_dict["budget_cents"] = budget_cents
        if goal is not UNSET:
            field_dict["goal"] = goal

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.caller_link import CallerLink # noqa: PLC0415
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        from ..models.parent_view import ParentView # noqa: PLC0415
        from ..models.plan_step import PlanStep # noqa: PLC0415
        d = dict(src_dict)
        id = d.pop("id")

        tenant_id = d.pop("tenant_id")

        status = RunStatus(d.pop("status"))




        plan = []
        _plan = d.pop("plan")
        for plan_item_data in (_plan):
            plan_item = PlanStep.from_dict(plan_item_data)



            plan.append(plan_item)


        input_ = d.pop("input")

        base_seed = d.pop("base_seed")

        steps_total = d.pop("steps_total")

        steps_done = d.pop("steps_done")

        genesis_hash = d.pop("genesis_hash")

        last_hash = d.pop("last_hash")

        created_at_ms = d.pop("created_at_ms")

        updated_at_ms = d.pop("updated_at_ms")

        spent_cents = d.pop("spent_cents")

        output = d.pop("output", UNSET)

        def _parse_error(data: object) -> None | OutcomeError | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_1 = OutcomeError.from_dict(data)



                return error_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OutcomeError | Unset, data)

        error = _parse_error(d.pop("error", UNSET))


        def _parse_parent(data: object) -> None | ParentView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                parent_type_1 = ParentView.from_dict(data)



                return parent_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ParentView | Unset, data)

        parent = _parse_parent(d.pop("parent", UNSET))


        def _parse_caller(data: object) -> CallerLink | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                caller_type_1 = CallerLink.from_dict(data)



                return caller_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CallerLink | None | Unset, data)

        caller = _parse_caller(d.pop("caller", UNSET))


        def _parse_budget_cents(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        budget_cents = _parse_budget_cents(d.pop("budget_cents", UNSET))


        goal = d.pop("goal", UNSET)

        run_view = cls(
            id=id,
            tenant_id=tenant_id,
            status=status,
            plan=plan,
            input_=input_,
            base_seed=base_seed,
            steps_total=steps_total,
            steps_done=steps_done,
            genesis_hash=genesis_hash,
            last_hash=last_hash,
            created_at_ms=created_at_ms,
            updated_at_ms=updated_at_ms,
            spent_cents=spent_cents,
            output=output,
            error=error,
            parent=parent,
            caller=caller,
            budget_cents=budget_cents,
            goal=goal,
        )


        run_view.additional_properties = d
        return run_view

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
