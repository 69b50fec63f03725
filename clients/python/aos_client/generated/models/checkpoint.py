from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.gate_record import GateRecord
  from ..models.step_charge import StepCharge
  from ..models.structured_outcome import StructuredOutcome





T = TypeVar("T", bound="Checkpoint")



@_attrs_define
class Checkpoint:
    """ A stored checkpoint: the final outcome of one step plus its place in the chain.

        Attributes:
            step_index (int): Position of the step in the plan.
            step_id (str): The step's id in the plan.
            skill (str): Skill name the step ran.
            seed (int): The step's deterministic seed.
            attempts (int): How many attempts the step took.
            outcome (StructuredOutcome): The result of one skill execution.
            outcome_hash (str): Hash of what the step produced.
            prev_hash (str): Hash of the previous checkpoint (genesis for step 0).
            hash_ (str): This checkpoint's chain hash.
            created_at_ms (int): When the checkpoint was written (ms since the epoch); not hashed.
            gate (GateRecord | None | Unset):
            charge (None | StepCharge | Unset):
     """

    step_index: int
    step_id: str
    skill: str
    seed: int
    attempts: int
    outcome: StructuredOutcome
    outcome_hash: str
    prev_hash: str
    hash_: str
    created_at_ms: int
    gate: GateRecord | None | Unset = UNSET
    charge: None | StepCharge | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.gate_record import GateRecord # noqa: PLC0415
        from ..models.step_charge import StepCharge # noqa: PLC0415
        from ..models.structured_outcome import StructuredOutcome # noqa: PLC0415
        step_index = self.step_index

        step_id = self.step_id

        skill = self.skill

        seed = self.seed

        attempts = self.attempts

        outcome = self.outcome.to_dict()

        outcome_hash = self.outcome_hash

        prev_hash = self.prev_hash

        hash_ = self.hash_

        created_at_ms = self.created_at_ms

        gate: dict[str, Any] | None | Unset
        if isinstance(self.gate, Unset):
            gate = UNSET
        elif isinstance(self.gate, GateRecord):
            gate = self.gate.to_dict()
        else:
            gate = self.gate

        charge: dict[str, Any] | None | Unset
        if isinstance(self.charge, Unset):
            charge = UNSET
        elif isinstance(self.charge, StepCharge):
            charge = self.charge.to_dict()
        else:
            charge = self.charge


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "step_index": step_index,
            "step_id": step_id,
            "skill": skill,
            "seed": seed,
            "attempts": attempts,
            "outcome": outcome,
            "outcome_hash": outcome_hash,
            "prev_hash": prev_hash,
            "hash": hash_,
            "created_at_ms": created_at_ms,
        })
        if gate is not UNSET:
            field_dict["gate"] = gate
        if charge is not UNSET:
            field_dict["charge"] = charge

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.gate_record import GateRecord # noqa: PLC0415
        from ..models.step_charge import StepCharge # noqa: PLC0415
        from ..models.structured_outcome import StructuredOutcome # noqa: PLC0415
        d = dict(src_dict)
        step_index = d.pop("step_index")

        step_id = d.pop("step_id")

        skill = d.pop("skill")

        seed = d.pop("seed")

        attempts = d.pop("attempts")

        outcome = StructuredOutcome.from_dict(d.pop("outcome"))




        outcome_hash = d.pop("outcome_hash")

        prev_hash = d.pop("prev_hash")

        hash_ = d.pop("hash")

        created_at_ms = d.pop("created_at_ms")

        def _parse_gate(data: object) -> GateRecord | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                gate_type_1 = GateRecord.from_dict(data)



                return gate_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(GateRecord | None | Unset, data)

        gate = _parse_gate(d.pop("gate", UNSET))


        def _parse_charge(data: object) -> None | StepCharge | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                charge_type_1 = StepCharge.from_dict(data)



                return charge_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | StepCharge | Unset, data)

        charge = _parse_charge(d.pop("charge", UNSET))


        checkpoint = cls(
            step_index=step_index,
            step_id=step_id,
            skill=skill,
            seed=seed,
            attempts=attempts,
            outcome=outcome,
            outcome_hash=outcome_hash,
            prev_hash=prev_hash,
            hash_=hash_,
            created_at_ms=created_at_ms,
            gate=gate,
            charge=charge,
        )


        checkpoint.additional_properties = d
        return checkpoint

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
