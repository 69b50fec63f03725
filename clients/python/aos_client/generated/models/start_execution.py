from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="StartExecution")



@_attrs_define
class StartExecution:
    """ The body of `POST /v1/workflows/{name}/executions`.

        Attributes:
            input_ (Any | Unset): The execution input.
            version (int | None | Unset): Version to run; the latest when absent.
            base_seed (int | None | Unset): Base of the runs' seeds; random when absent.
            budget_cents (int | None | Unset): The most the execution's runs may spend together, in cents (credits): a step
                whose estimate would take them past it does not run, and its node fails with
                `ERR_BUDGET_EXCEEDED`.
            notify_url (None | str | Unset): Where signed notices about the execution go (`budget.warning`).
     """

    input_: Any | Unset = UNSET
    version: int | None | Unset = UNSET
    base_seed: int | None | Unset = UNSET
    budget_cents: int | None | Unset = UNSET
    notify_url: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        input_ = self.input_

        version: int | None | Unset
        if isinstance(self.version, Unset):
            version = UNSET
        else:
            version = self.version

        base_seed: int | None | Unset
        if isinstance(self.base_seed, Unset):
            base_seed = UNSET
        else:
            base_seed = self.base_seed

        budget_cents: int | None | Unset
        if isinstance(self.budget_cents, Unset):
            budget_cents = UNSET
        else:
            budget_cents = self.budget_cents

        notify_url: None | str | Unset
        if isinstance(self.notify_url, Unset):
            notify_url = UNSET
        else:
            notify_url = self.notify_url


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if input_ is not UNSET:
            field_dict["input"] = input_
        if version is not UNSET:
            field_dict["version"] = version
        if base_seed is not UNSET:
            field_dict["base_seed"] = base_seed
        if budget_cents is not UNSET:
            field_dict["budget_cents"] = budget_cents
        if notify_url is not UNSET:
            field_dict["notify_url"] = notify_url

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        input_ = d.pop("input", UNSET)

        def _parse_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        version = _parse_version(d.pop("version", UNSET))


        def _parse_base_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        base_seed = _parse_base_seed(d.pop("base_seed", UNSET))


        def _parse_budget_cents(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        budget_cents = _parse_budget_cents(d.pop("budget_cents", UNSET))


        def _parse_notify_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        notify_url = _parse_notify_url(d.pop("notify_url", UNSET))


        start_execution = cls(
            input_=input_,
            version=version,
            base_seed=base_seed,
            budget_cents=budget_cents,
            notify_url=notify_url,
        )

        return start_execution

