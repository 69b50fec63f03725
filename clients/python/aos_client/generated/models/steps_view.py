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
  from ..models.finished_step import FinishedStep
  from ..models.unfinished_step import UnfinishedStep





T = TypeVar("T", bound="StepsView")



@_attrs_define
class StepsView:
    """ A run's steps and whether its checkpoint chain verifies.

        Attributes:
            run_id (str): A run id: `run_` and lower-case letters, digits, '_' or '-'.
            status (RunStatus): Lifecycle of a run. `Running -> Running` is allowed: a run stays running while
                it moves from one step to the next.
            genesis_hash (str): Hash the chain starts from.
            chain_valid (bool): Whether every checkpoint links to the one before.
            steps (list[FinishedStep | UnfinishedStep]): Every step of the plan, in order.
            chain_error (None | str | Unset): Where and why the chain breaks.
     """

    run_id: str
    status: RunStatus
    genesis_hash: str
    chain_valid: bool
    steps: list[FinishedStep | UnfinishedStep]
    chain_error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.finished_step import FinishedStep # noqa: PLC0415
        from ..models.unfinished_step import UnfinishedStep # noqa: PLC0415
        run_id = self.run_id

        status = self.status.value

        genesis_hash = self.genesis_hash

        chain_valid = self.chain_valid

        steps = []
        for steps_item_data in self.steps:
            steps_item: dict[str, Any]
            if isinstance(steps_item_data, FinishedStep):
                steps_item = steps_item_data.to_dict()
            else:
                steps_item = steps_item_data.to_dict()

            steps.append(steps_item)



        chain_error: None | str | Unset
        if isinstance(self.chain_error, Unset):
            chain_error = UNSET
        else:
            chain_error = self.chain_error


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "run_id": run_id,
            "status": status,
            "genesis_hash": genesis_hash,
            "chain_valid": chain_valid,
            "steps": steps,
        })
        if chain_error is not UNSET:
            field_dict["chain_error"] = chain_error

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.finished_step import FinishedStep # noqa: PLC0415
        from ..models.unfinished_step import UnfinishedStep # noqa: PLC0415
        d = dict(src_dict)
        run_id = d.pop("run_id")

        status = RunStatus(d.pop("status"))




        genesis_hash = d.pop("genesis_hash")

        chain_valid = d.pop("chain_valid")

        steps = []
        _steps = d.pop("steps")
        for steps_item_data in (_steps):
            def _parse_steps_item(data: object) -> FinishedStep | UnfinishedStep:
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_step_view_type_0 = FinishedStep.from_dict(data)



                    return componentsschemas_step_view_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_step_view_type_1 = UnfinishedStep.from_dict(data)



                return componentsschemas_step_view_type_1

            steps_item = _parse_steps_item(steps_item_data)

            steps.append(steps_item)


        def _parse_chain_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        chain_error = _parse_chain_error(d.pop("chain_error", UNSET))


        steps_view = cls(
            run_id=run_id,
            status=status,
            genesis_hash=genesis_hash,
            chain_valid=chain_valid,
            steps=steps,
            chain_error=chain_error,
        )


        steps_view.additional_properties = d
        return steps_view

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
