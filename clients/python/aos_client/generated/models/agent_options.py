from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.planner_spec_type_0 import PlannerSpecType0
  from ..models.planner_spec_type_1 import PlannerSpecType1
  from ..models.planner_spec_type_2 import PlannerSpecType2





T = TypeVar("T", bound="AgentOptions")



@_attrs_define
class AgentOptions:
    """ The options of a goal-driven run besides its goal (`"agent"` in `POST /v1/runs`).

        Attributes:
            planner (None | PlannerSpecType0 | PlannerSpecType1 | PlannerSpecType2 | Unset):
            max_steps (int | None | Unset): Most skill steps.
            max_llm_calls (int | None | Unset): Most LLM calls.
            skills (list[str] | Unset): Allowed skills.
     """

    planner: None | PlannerSpecType0 | PlannerSpecType1 | PlannerSpecType2 | Unset = UNSET
    max_steps: int | None | Unset = UNSET
    max_llm_calls: int | None | Unset = UNSET
    skills: list[str] | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.planner_spec_type_0 import PlannerSpecType0 # noqa: PLC0415
        from ..models.planner_spec_type_1 import PlannerSpecType1 # noqa: PLC0415
        from ..models.planner_spec_type_2 import PlannerSpecType2 # noqa: PLC0415
        planner: dict[str, Any] | None | Unset
        if isinstance(self.planner, Unset):
            planner = UNSET
        elif isinstance(self.planner, PlannerSpecType0):
            planner = self.planner.to_dict()
        elif isinstance(self.planner, PlannerSpecType1):
            planner = self.planner.to_dict()
        elif isinstance(self.planner, PlannerSpecType2):
            planner = self.planner.to_dict()
        else:
            planner = self.planner

        max_steps: int | None | Unset
        if isinstance(self.max_steps, Unset):
            max_steps = UNSET
        else:
            max_steps = self.max_steps

        max_llm_calls: int | None | Unset
        if isinstance(self.max_llm_calls, Unset):
            max_llm_calls = UNSET
        else:
            max_llm_calls = self.max_llm_calls

        skills: list[str] | Unset = UNSET
        if not isinstance(self.skills, Unset):
            skills = self.skills




        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if planner is not UNSET:
            field_dict["planner"] = planner
        if max_steps is not UNSET:
            field_dict["max_steps"] = max_steps
        if max_llm_calls is not UNSET:
            field_dict["max_llm_calls"] = max_llm_calls
        if skills is not UNSET:
            field_dict["skills"] = skills

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.planner_spec_type_0 import PlannerSpecType0 # noqa: PLC0415
        from ..models.planner_spec_type_1 import PlannerSpecType1 # noqa: PLC0415
        from ..models.planner_spec_type_2 import PlannerSpecType2 # noqa: PLC0415
        d = dict(src_dict)
        def _parse_planner(data: object) -> None | PlannerSpecType0 | PlannerSpecType1 | PlannerSpecType2 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_planner_spec_type_0 = PlannerSpecType0.from_dict(data)



                return componentsschemas_planner_spec_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_planner_spec_type_1 = PlannerSpecType1.from_dict(data)



                return componentsschemas_planner_spec_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_planner_spec_type_2 = PlannerSpecType2.from_dict(data)



                return componentsschemas_planner_spec_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PlannerSpecType0 | PlannerSpecType1 | PlannerSpecType2 | Unset, data)

        planner = _parse_planner(d.pop("planner", UNSET))


        def _parse_max_steps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_steps = _parse_max_steps(d.pop("max_steps", UNSET))


        def _parse_max_llm_calls(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_llm_calls = _parse_max_llm_calls(d.pop("max_llm_calls", UNSET))


        skills = cast(list[str], d.pop("skills", UNSET))


        agent_options = cls(
            planner=planner,
            max_steps=max_steps,
            max_llm_calls=max_llm_calls,
            skills=skills,
        )

        return agent_options

