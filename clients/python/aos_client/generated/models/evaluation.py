from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.category import Category
from ..models.decision import Decision
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.violation import Violation





T = TypeVar("T", bound="Evaluation")



@_attrs_define
class Evaluation:
    """ The answer for one step, in the seed's shape.

        Attributes:
            decision (Decision): What the policies say of a step.
            reasons (list[str]): Why, one line per policy that decided (or the default).
            violations (list[Violation]): The policies that applied and did not allow.
            approval_level_required (int | None | Unset): The level an approval needs (when the decision asks for one).
            approval_timeout_s (int | None | Unset): How long a person has to decide, seconds (when the decision asks for an
                approval).
            escalate_to (int | None | Unset): The level an undecided request escalates to at its timeout (when a policy
                says).
            notify (list[str] | Unset): Where the approval's signed webhooks go (the asking policies' `@notify`).
            deciding_category (Category | None | Unset):
     """

    decision: Decision
    reasons: list[str]
    violations: list[Violation]
    approval_level_required: int | None | Unset = UNSET
    approval_timeout_s: int | None | Unset = UNSET
    escalate_to: int | None | Unset = UNSET
    notify: list[str] | Unset = UNSET
    deciding_category: Category | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.violation import Violation # noqa: PLC0415
        decision = self.decision.value

        reasons = self.reasons



        violations = []
        for violations_item_data in self.violations:
            violations_item = violations_item_data.to_dict()
            violations.append(violations_item)



        approval_level_required: int | None | Unset
        if isinstance(self.approval_level_required, Unset):
            approval_level_required = UNSET
        else:
            approval_level_required = self.approval_level_required

        approval_timeout_s: int | None | Unset
        if isinstance(self.approval_timeout_s, Unset):
            approval_timeout_s = UNSET
        else:
            approval_timeout_s = self.approval_timeout_s

        escalate_to: int | None | Unset
        if isinstance(self.escalate_to, Unset):
            escalate_to = UNSET
        else:
            escalate_to = self.escalate_to

        notify: list[str] | Unset = UNSET
        if not isinstance(self.notify, Unset):
            notify = self.notify



        deciding_category: None | str | Unset
        if isinstance(self.deciding_category, Unset):
            deciding_category = UNSET
        elif isinstance(self.deciding_category, Category):
            deciding_category = self.deciding_category.value
        else:
            deciding_category = self.deciding_category


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "decision": decision,
            "reasons": reasons,
            "violations": violations,
        })
        if approval_level_required is not UNSET:
            field_dict["approval_level_required"] = approval_level_required
        if approval_timeout_s is not UNSET:
            field_dict["approval_timeout_s"] = approval_timeout_s
        if escalate_to is not UNSET:
            field_dict["escalate_to"] = escalate_to
        if notify is not UNSET:
            field_dict["notify"] = notify
        if deciding_category is not UNSET:
            field_dict["deciding_category"] = deciding_category

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.violation import Violation # noqa: PLC0415
        d = dict(src_dict)
        decision = Decision(d.pop("decision"))




        reasons = cast(list[str], d.pop("reasons"))


        violations = []
        _violations = d.pop("violations")
        for violations_item_data in (_violations):
            violations_item = Violation.from_dict(violations_item_data)



            violations.append(violations_item)


        def _parse_approval_level_required(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        approval_level_required = _parse_approval_level_required(d.pop("approval_level_required", UNSET))


        def _parse_approval_timeout_s(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        approval_timeout_s = _parse_approval_timeout_s(d.pop("approval_timeout_s", UNSET))


        def _parse_escalate_to(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        escalate_to = _parse_escalate_to(d.pop("escalate_to", UNSET))


        notify = cast(list[str], d.pop("notify", UNSET))


        def _parse_deciding_category(data: object) -> Category | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                deciding_category_type_1 = Category(data)



                return deciding_category_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Category | None | Unset, data)

        deciding_category = _parse_deciding_category(d.pop("deciding_category", UNSET))


        evaluation = cls(
            decision=decision,
            reasons=reasons,
            violations=violations,
            approval_level_required=approval_level_required,
            approval_timeout_s=approval_timeout_s,
            escalate_to=escalate_to,
            notify=notify,
            deciding_category=deciding_category,
        )


        evaluation.additional_properties = d
        return evaluation

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
