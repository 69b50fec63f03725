from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.step_status import StepStatus
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.outcome_error import OutcomeError





T = TypeVar("T", bound="UnfinishedStep")



@_attrs_define
class UnfinishedStep:
    """ A step not finished (nothing else: a finished step's fields do not fit it).

        Attributes:
            step_index (int): Position in the plan.
            skill (str): Its skill.
            status (StepStatus): Lifecycle of one step of a run.
            attempts (int): Attempts begun.
            step_id (None | str | Unset): Its id in the plan.
            last_error (None | OutcomeError | Unset):
     """

    step_index: int
    skill: str
    status: StepStatus
    attempts: int
    step_id: None | str | Unset = UNSET
    last_error: None | OutcomeError | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        step_index = self.step_index

        skill = self.skill

        status = self.status.value

        attempts = self.attempts

        step_id: None | str | Unset
        if isinstance(self.step_id, Unset):
            step_id = UNSET
        else:
            step_id = self.step_id

        last_error: dict[str, Any] | None | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        elif isinstance(self.last_error, OutcomeError):
            last_error = self.last_error.to_dict()
        else:
            last_error = self.last_error


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "step_index": step_index,
            "skill": skill,
            "status": status,
            "attempts": attempts,
        })
        if step_id is not UNSET:
            field_dict["step_id"] = step_id
        if last_error is not UNSET:
            field_dict["last_error"] = last_error

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        d = dict(src_dict)
        step_index = d.pop("step_index")

        skill = d.pop("skill")

        status = StepStatus(d.pop("status"))




        attempts = d.pop("attempts")

        def _parse_step_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        step_id = _parse_step_id(d.pop("step_id", UNSET))


        def _parse_last_error(data: object) -> None | OutcomeError | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                last_error_type_1 = OutcomeError.from_dict(data)



                return last_error_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OutcomeError | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))


        unfinished_step = cls(
            step_index=step_index,
            skill=skill,
            status=status,
            attempts=attempts,
            step_id=step_id,
            last_error=last_error,
        )

        return unfinished_step

