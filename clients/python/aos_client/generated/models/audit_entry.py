from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.actor import Actor





T = TypeVar("T", bound="AuditEntry")



@_attrs_define
class AuditEntry:
    """ An entry of the log, as stored.

        Attributes:
            tenant (str): A tenant id: `ten_` and lower-case letters, digits, '_' or '-'.
            actor (Actor): Who did it.
            action (str): What, as `<noun>.<verb>`: `policy.apply`, `gate.deny`, `approval.decide`, ….
            resource (str): On what: `run:<id>/step:<n>`, `approval:<id>`, `policies`, `key:<id>`, ….
            decision (str): The outcome: `applied`, `deny`, `approved`, ….
            at_ms (int): When, ms since the epoch.
            seq (int): Its place in its tenant's log, from 1, with no gaps.
            prev_hash (str): The hash of the entry before it ([`genesis`] for the first).
            hash_ (str): The hash of this entry: over `seq`, the event and `prev_hash`.
            reasons (list[str] | Unset): Why, one line each.
            details (Any | Unset): Anything else worth keeping (never a secret).
     """

    tenant: str
    actor: Actor
    action: str
    resource: str
    decision: str
    at_ms: int
    seq: int
    prev_hash: str
    hash_: str
    reasons: list[str] | Unset = UNSET
    details: Any | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.actor import Actor # noqa: PLC0415
        tenant = self.tenant

        actor = self.actor.to_dict()

        action = self.action

        resource = self.resource

        decision = self.decision

        at_ms = self.at_ms

        seq = self.seq

        prev_hash = self.prev_hash

        hash_ = self.hash_

        reasons: list[str] | Unset = UNSET
        if not isinstance(self.reasons, Unset):
            reasons = self.reasons



        details = self.details


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "tenant": tenant,
            "actor": actor,
            "action": action,
            "resource": resource,
            "decision": decision,
            "at_ms": at_ms,
            "seq": seq,
            "prev_hash": prev_hash,
            "hash": hash_,
        })
        if reasons is not UNSET:
            field_dict["reasons"] = reasons
        if details is not UNSET:
            field_dict["details"] = details

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.actor import Actor # noqa: PLC0415
        d = dict(src_dict)
        tenant = d.pop("tenant")

        actor = Actor.from_dict(d.pop("actor"))




        action = d.pop("action")

        resource = d.pop("resource")

        decision = d.pop("decision")

        at_ms = d.pop("at_ms")

        seq = d.pop("seq")

        prev_hash = d.pop("prev_hash")

        hash_ = d.pop("hash")

        reasons = cast(list[str], d.pop("reasons", UNSET))


        details = d.pop("details", UNSET)

        audit_entry = cls(
            tenant=tenant,
            actor=actor,
            action=action,
            resource=resource,
            decision=decision,
            at_ms=at_ms,
            seq=seq,
            prev_hash=prev_hash,
            hash_=hash_,
            reasons=reasons,
            details=details,
        )


        audit_entry.additional_properties = d
        return audit_entry

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
