from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.outcome_error import OutcomeError





T = TypeVar("T", bound="StructuredOutcome")



@_attrs_define
class StructuredOutcome:
    """ The result of one skill execution.

        Attributes:
            ok (bool): True when the skill succeeded and `output` is set.
            cost_cents (int): Cost charged for this execution, in cents.
            duration_ms (int): Wall-clock duration; not part of any hash.
            output (Any | Unset): The skill's output when `ok`.
            error (None | OutcomeError | Unset):
     """

    ok: bool
    cost_cents: int
    duration_ms: int
    output: Any | Unset = UNSET
    error: None | OutcomeError | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        ok = self.ok

        cost_cents = self.cost_cents

        duration_ms = self.duration_ms

        output = self.output

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, OutcomeError):
            error = self.error.to_dict()
        else:
            error = self.error


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "ok": ok,
            "cost_cents": cost_cents,
            "duration_ms": duration_ms,
        })
        if output is not UNSET:
            field_dict["output"] = output
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        d = dict(src_dict)
        ok = d.pop("ok")

        cost_cents = d.pop("cost_cents")

        duration_ms = d.pop("duration_ms")

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


        structured_outcome = cls(
            ok=ok,
            cost_cents=cost_cents,
            duration_ms=duration_ms,
            output=output,
            error=error,
        )


        structured_outcome.additional_properties = d
        return structured_outcome

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
