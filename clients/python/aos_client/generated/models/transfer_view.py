from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.account import Account
from ..models.pending_state import PendingState
from ..models.transfer_kind import TransferKind
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.cause import Cause





T = TypeVar("T", bound="TransferView")



@_attrs_define
class TransferView:
    """ A ledger transfer.

        Attributes:
            id (str): Its id, derived from its cause.
            kind (TransferKind): What a transfer is.
            debit (Account): An account of a tenant's ledger.
            credit (Account): An account of a tenant's ledger.
            amount_cents (float): How much.
            at_ms (int): When, ms since the epoch.
            follows (None | str | Unset): The reservation it resolves.
            state (None | PendingState | Unset):
            timeout_at_ms (int | None | Unset): When a pending reservation returns by itself.
            grant (None | str | Unset): The grant it concerns.
            cause (Cause | None | Unset):
     """

    id: str
    kind: TransferKind
    debit: Account
    credit: Account
    amount_cents: float
    at_ms: int
    follows: None | str | Unset = UNSET
    state: None | PendingState | Unset = UNSET
    timeout_at_ms: int | None | Unset = UNSET
    grant: None | str | Unset = UNSET
    cause: Cause | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.cause import Cause # noqa: PLC0415
        id = self.id

        kind = self.kind.value

        debit = self.debit.value

        credit = self.credit.value

        amount_cents = self.amount_cents

        at_ms = self.at_ms

        follows: None | str | Unset
        if isinstance(self.follows, Unset):
            follows = UNSET
        else:
            follows = self.follows

        state: None | str | Unset
        if isinstance(self.state, Unset):
            state = UNSET
        elif isinstance(self.state, PendingState):
            state = self.state.value
        else:
            state = self.state

        timeout_at_ms: int | None | Unset
        if isinstance(self.timeout_at_ms, Unset):
            timeout_at_ms = UNSET
        else:
            timeout_at_ms = self.timeout_at_ms

        grant: None | str | Unset
        if isinstance(self.grant, Unset):
            grant = UNSET
        else:
            grant = self.grant

        cause: dict[str, Any] | None | Unset
        if isinstance(self.cause, Unset):
            cause = UNSET
        elif isinstance(self.cause, Cause):
            cause = self.cause.to_dict()
        else:
            cause = self.cause


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "kind": kind,
            "debit": debit,
            "credit": credit,
            "amount_cents": amount_cents,
            "at_ms": at_ms,
        })
        if follows is not UNSET:
            field_dict["follows"] = follows
        if state is not UNSET:
            field_dict["state"] = state
        if timeout_at_ms is not UNSET:
            field_dict["timeout_at_ms"] = timeout_at_ms
        if grant is not UNSET:
            field_dict["grant"] = grant
        if cause is not UNSET:
            field_dict["cause"] = cause

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cause import Cause # noqa: PLC0415
        d = dict(src_dict)
        id = d.pop("id")

        kind = TransferKind(d.pop("kind"))




        debit = Account(d.pop("debit"))




        credit = Account(d.pop("credit"))




        amount_cents = d.pop("amount_cents")

        at_ms = d.pop("at_ms")

        def _parse_follows(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        follows = _parse_follows(d.pop("follows", UNSET))


        def _parse_state(data: object) -> None | PendingState | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                state_type_1 = PendingState(data)



                return state_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PendingState | Unset, data)

        state = _parse_state(d.pop("state", UNSET))


        def _parse_timeout_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        timeout_at_ms = _parse_timeout_at_ms(d.pop("timeout_at_ms", UNSET))


        def _parse_grant(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        grant = _parse_grant(d.pop("grant", UNSET))


        def _parse_cause(data: object) -> Cause | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                cause_type_1 = Cause.from_dict(data)



                return cause_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Cause | None | Unset, data)

        cause = _parse_cause(d.pop("cause", UNSET))


        transfer_view = cls(
            id=id,
            kind=kind,
            debit=debit,
            credit=credit,
            amount_cents=amount_cents,
            at_ms=at_ms,
            follows=follows,
            state=state,
            timeout_at_ms=timeout_at_ms,
            grant=grant,
            cause=cause,
        )


        transfer_view.additional_properties = d
        return transfer_view

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
