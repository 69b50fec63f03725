from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.approval_status import ApprovalStatus
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="ApprovalTransition")



@_attrs_define
class ApprovalTransition:
    """ One change of an approval's status.

        Attributes:
            to (ApprovalStatus): Status of an approval.
            reason (str): Why.
            at_ms (int): When, ms since the epoch.
            from_ (ApprovalStatus | None | Unset):
            actor (None | str | Unset): Who made the change (a decider's key id; `None`: AOS itself).
            level (int | None | Unset): The approval level the change was made at (a decision: the decider's).
     """

    to: ApprovalStatus
    reason: str
    at_ms: int
    from_: ApprovalStatus | None | Unset = UNSET
    actor: None | str | Unset = UNSET
    level: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        to = self.to.value

        reason = self.reason

        at_ms = self.at_ms

        from_: None | str | Unset
        if isinstance(self.from_, Unset):
            from_ = UNSET
        elif isinstance(self.from_, ApprovalStatus):
            from_ = self.from_.value
        else:
            from_ = self.from_

        actor: None | str | Unset
        if isinstance(self.actor, Unset):
            actor = UNSET
        else:
            actor = self.actor

        level: int | None | Unset
        if isinstance(self.level, Unset):
            level = UNSET
        else:
            level = self.level


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "to": to,
            "reason": reason,
            "at_ms": at_ms,
        })
        if from_ is not UNSET:
            field_dict["from"] = from_
        if actor is not UNSET:
            field_dict["actor"] = actor
        if level is not UNSET:
            field_dict["level"] = level

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        to = ApprovalStatus(d.pop("to"))




        reason = d.pop("reason")

        at_ms = d.pop("at_ms")

        def _parse_from_(data: object) -> ApprovalStatus | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                from_type_1 = ApprovalStatus(data)



                return from_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ApprovalStatus | None | Unset, data)

        from_ = _parse_from_(d.pop("from", UNSET))


        def _parse_actor(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        actor = _parse_actor(d.pop("actor", UNSET))


        def _parse_level(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        level = _parse_level(d.pop("level", UNSET))


        approval_transition = cls(
            to=to,
            reason=reason,
            at_ms=at_ms,
            from_=from_,
            actor=actor,
            level=level,
        )


        approval_transition.additional_properties = d
        return approval_transition

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
