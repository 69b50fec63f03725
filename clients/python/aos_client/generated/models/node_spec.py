from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.join import Join
from ..models.node_type import NodeType
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.choice_rule import ChoiceRule
  from ..models.compensation import Compensation
  from ..models.retry_policy import RetryPolicy





T = TypeVar("T", bound="NodeSpec")



@_attrs_define
class NodeSpec:
    """ One node. Which fields apply depends on `type`; validation refuses the others.

        Attributes:
            id (str): Id, unique in the workflow: `A-Z`, `a-z`, `0-9`, `_`, 1–64 characters.
            type_ (NodeType | Unset): Kind of a node.
            depends_on (list[str] | Unset): Nodes that must finish first.
            join (Join | Unset): When a node with several dependencies runs.
            skill (None | str | Unset): Task, map: the skill to call.
            input_ (Any | Unset): Task, map: the skill's input template. A map's may use `${item...}` and `${index}`.
            items (None | str | Unset): Map: one reference to an array, e.g. `${input.orders}`.
            max_concurrency (int | None | Unset): Map: elements in flight at once; 1..=40, default 10.
            choices (list[ChoiceRule] | None | Unset): Choice: the rules, tried in order.
            default (list[str] | None | Unset): Choice: nodes that run when no rule holds.
            seconds (int | None | Unset): Wait: seconds to wait (1..=31536000).
            until (None | str | Unset): Wait: an RFC 3339 UTC timestamp (`2026-12-01T09:00:00Z`) or one reference to one.
            prompt (None | str | Unset): Approval: what the approver is asked (templated).
            timeout_s (int | None | Unset): Task, map: per-attempt timeout; approval: time to decide (default 86400).
            level (int | None | Unset): Approval: the level (1-5) a decider's key must hold (default 1).
            on_timeout (list[str] | None | Unset): Approval: nodes that run only if nobody decides in time. Without them a
                timeout
                fails the workflow.
            retry (None | RetryPolicy | Unset):
            compensate (Compensation | None | Unset):
     """

    id: str
    type_: NodeType | Unset = UNSET
    depends_on: list[str] | Unset = UNSET
    join: Join | Unset = UNSET
    skill: None | str | Unset = UNSET
    input_: Any | Unset = UNSET
    items: None | str | Unset = UNSET
    max_concurrency: int | None | Unset = UNSET
    choices: list[ChoiceRule] | None | Unset = UNSET
    default: list[str] | None | Unset = UNSET
    seconds: int | None | Unset = UNSET
    until: None | str | Unset = UNSET
    prompt: None | str | Unset = UNSET
    timeout_s: int | None | Unset = UNSET
    level: int | None | Unset = UNSET
    on_timeout: list[str] | None | Unset = UNSET
    retry: None | RetryPolicy | Unset = UNSET
    compensate: Compensation | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.choice_rule import ChoiceRule # noqa: PLC0415
        from ..models.compensation import Compensation # noqa: PLC0415
        from ..models.retry_policy import RetryPolicy # noqa: PLC0415
        id = self.id

        type_: str | Unset = UNSET
        if not isinstance(self.type_, Unset):
            type_ = self.type_.value


        depends_on: list[str] | Unset = UNSET
        if not isinstance(self.depends_on, Unset):
            depends_on = self.depends_on



        join: str | Unset = UNSET
        if not isinstance(self.join, Unset):
            join = self.join.value


        skill: None | str | Unset
        if isinstance(self.skill, Unset):
            skill = UNSET
        else:
            skill = self.skill

        input_ = self.input_

        items: None | str | Unset
        if isinstance(self.items, Unset):
            items = UNSET
        else:
            items = self.items

        max_concurrency: int | None | Unset
        if isinstance(self.max_concurrency, Unset):
            max_concurrency = UNSET
        else:
            max_concurrency = self.max_concurrency

        choices: list[dict[str, Any]] | None | Unset
        if isinstance(self.choices, Unset):
            choices = UNSET
        elif isinstance(self.choices, list):
            choices = []
            for choices_type_0_item_data in self.choices:
                choices_type_0_item = choices_type_0_item_data.to_dict()
                choices.append(choices_type_0_item)


        else:
            choices = self.choices

        default: list[str] | None | Unset
        if isinstance(self.default, Unset):
            default = UNSET
        elif isinstance(self.default, list):
            default = self.default


        else:
            default = self.default

        seconds: int | None | Unset
        if isinstance(self.seconds, Unset):
            seconds = UNSET
        else:
            seconds = self.seconds

        until: None | str | Unset
        if isinstance(self.until, Unset):
            until = UNSET
        else:
            until = self.until

        prompt: None | str | Unset
        if isinstance(self.prompt, Unset):
            prompt = UNSET
        else:
            prompt = self.prompt

        timeout_s: int | None | Unset
        if isinstance(self.timeout_s, Unset):
            timeout_s = UNSET
        else:
            timeout_s = self.timeout_s

        level: int | None | Unset
        if isinstance(self.level, Unset):
            level = UNSET
        else:
            level = self.level

        on_timeout: list[str] | None | Unset
        if isinstance(self.on_timeout, Unset):
            on_timeout = UNSET
        elif isinstance(self.on_timeout, list):
            on_timeout = self.on_timeout


        else:
            on_timeout = self.on_timeout

        retry: dict[str, Any] | None | Unset
        if isinstance(self.retry, Unset):
            retry = UNSET
        elif isinstance(self.retry, RetryPolicy):
            retry = self.retry.to_dict()
        else:
            retry = self.retry

        compensate: dict[str, Any] | None | Unset
        if isinstance(self.compensate, Unset):
            compensate = UNSET
        elif isinstance(self.compensate, Compensation):
            compensate = self.compensate.to_dict()
        else:
            compensate = self.compensate


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "id": id,
        })
        if type_ is not UNSET:
            field_dict["type"] = type_
        if depends_on is not UNSET:
            field_dict["depends_on"] = depends_on
        if join is not UNSET:
            field_dict["join"] = join
        if skill is not UNSET:
            field_dict["skill"] = skill
        if input_ is not UNSET:
            field_dict["input"] = input_
        if items is not UNSET:
            field_dict["items"] = items
        if max_concurrency is not UNSET:
            field_dict["max_concurrency"] = max_concurrency
        if choices is not UNSET:
            field_dict["choices"] = choices
        if default is not UNSET:
            field_dict["default"] = default
        if seconds is not UNSET:
            field_dict["seconds"] = seconds
        if until is not UNSET:
            field_dict["until"] = until
        if prompt is not UNSET:
            field_dict["prompt"] = prompt
        if timeout_s is not UNSET:
            field_dict["timeout_s"] = timeout_s
        if level is not UNSET:
            field_dict["level"] = level
        if on_timeout is not UNSET:
            field_dict["on_timeout"] = on_timeout
        if retry is not UNSET:
            field_dict["retry"] = retry
        if compensate is not UNSET:
            field_dict["compensate"] = compensate

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.choice_rule import ChoiceRule # noqa: PLC0415
        from ..models.compensation import Compensation # noqa: PLC0415
        from ..models.retry_policy import RetryPolicy # noqa: PLC0415
        d = dict(src_dict)
        id = d.pop("id")

        _type_ = d.pop("type", UNSET)
        type_: NodeType | Unset
        if isinstance(_type_,  Unset):
            type_ = UNSET
        else:
            type_ = NodeType(_type_)




        depends_on = cast(list[str], d.pop("depends_on", UNSET))


        _join = d.pop("join", UNSET)
        join: Join | Unset
        if isinstance(_join,  Unset):
            join = UNSET
        else:
            join = Join(_join)




        def _parse_skill(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        skill = _parse_skill(d.pop("skill", UNSET))


        input_ = d.pop("input", UNSET)

        def _parse_items(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        items = _parse_items(d.pop("items", UNSET))


        def _parse_max_concurrency(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_concurrency = _parse_max_concurrency(d.pop("max_concurrency", UNSET))


        def _parse_choices(data: object) -> list[ChoiceRule] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                choices_type_0 = []
                _choices_type_0 = data
                for choices_type_0_item_data in (_choices_type_0):
                    choices_type_0_item = ChoiceRule.from_dict(choices_type_0_item_data)



                    choices_type_0.append(choices_type_0_item)

                return choices_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[ChoiceRule] | None | Unset, data)

        choices = _parse_choices(d.pop("choices", UNSET))


        def _parse_default(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                default_type_0 = cast(list[str], data)

                return default_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        default = _parse_default(d.pop("default", UNSET))


        def _parse_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        seconds = _parse_seconds(d.pop("seconds", UNSET))


        def _parse_until(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        until = _parse_until(d.pop("until", UNSET))


        def _parse_prompt(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        prompt = _parse_prompt(d.pop("prompt", UNSET))


        def _parse_timeout_s(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        timeout_s = _parse_timeout_s(d.pop("timeout_s", UNSET))


        def _parse_level(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        level = _parse_level(d.pop("level", UNSET))


        def _parse_on_timeout(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                on_timeout_type_0 = cast(list[str], data)

                return on_timeout_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        on_timeout = _parse_on_timeout(d.pop("on_timeout", UNSET))


        def _parse_retry(data: object) -> None | RetryPolicy | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                retry_type_1 = RetryPolicy.from_dict(data)



                return retry_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RetryPolicy | Unset, data)

        retry = _parse_retry(d.pop("retry", UNSET))


        def _parse_compensate(data: object) -> Compensation | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                compensate_type_1 = Compensation.from_dict(data)



                return compensate_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Compensation | None | Unset, data)

        compensate = _parse_compensate(d.pop("compensate", UNSET))


        node_spec = cls(
            id=id,
            type_=type_,
            depends_on=depends_on,
            join=join,
            skill=skill,
            input_=input_,
            items=items,
            max_concurrency=max_concurrency,
            choices=choices,
            default=default,
            seconds=seconds,
            until=until,
            prompt=prompt,
            timeout_s=timeout_s,
            level=level,
            on_timeout=on_timeout,
            retry=retry,
            compensate=compensate,
        )

        return node_spec

