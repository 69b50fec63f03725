from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="PlanStep")



@_attrs_define
class PlanStep:
    """ One step of a plan.

        Attributes:
            skill (str): Name of a registered skill.
            id (None | str | Unset): Step id, unique in the plan; defaults to `s<index>`.
            input_ (Any | Unset): The skill's input (an empty object when absent); strings may hold `${...}`
                references.
            max_attempts (int | None | Unset): Attempts before the step (and the run) fails; default 3.
            timeout_ms (int | None | Unset): Per-attempt timeout in milliseconds; defaults to the skill's.
            backoff_ms (int | None | Unset): First retry delay in milliseconds (doubling, with jitter); defaults to the
                worker's.
     """

    skill: str
    id: None | str | Unset = UNSET
    input_: Any | Unset = UNSET
    max_attempts: int | None | Unset = UNSET
    timeout_ms: int | None | Unset = UNSET
    backoff_ms: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        skill = self.skill

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        input_ = self.input_

        max_attempts: int | None | Unset
        if isinstance(self.max_attempts, Unset):
            max_attempts = UNSET
        else:
            max_attempts = self.max_attempts

        timeout_ms: int | None | Unset
        if isinstance(self.timeout_ms, Unset):
            timeout_ms = UNSET
        else:
            timeout_ms = self.timeout_ms

        backoff_ms: int | None | Unset
        if isinstance(self.backoff_ms, Unset):
            backoff_ms = UNSET
        else:
            backoff_ms = self.backoff_ms


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "skill": skill,
        })
        if id is not UNSET:
            field_dict["id"] = id
        if input_ is not UNSET:
            field_dict["input"] = input_
        if max_attempts is not UNSET:
            field_dict["max_attempts"] = max_attempts
        if timeout_ms is not UNSET:
            field_dict["timeout_ms"] = timeout_ms
        if backoff_ms is not UNSET:
            field_dict["backoff_ms"] = backoff_ms

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        skill = d.pop("skill")

        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))


        input_ = d.pop("input", UNSET)

        def _parse_max_attempts(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_attempts = _parse_max_attempts(d.pop("max_attempts", UNSET))


        def _parse_timeout_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        timeout_ms = _parse_timeout_ms(d.pop("timeout_ms", UNSET))


        def _parse_backoff_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        backoff_ms = _parse_backoff_ms(d.pop("backoff_ms", UNSET))


        plan_step = cls(
            skill=skill,
            id=id,
            input_=input_,
            max_attempts=max_attempts,
            timeout_ms=timeout_ms,
            backoff_ms=backoff_ms,
        )

        return plan_step

