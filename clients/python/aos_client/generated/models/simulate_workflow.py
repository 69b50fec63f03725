from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.simulate_workflow_map_items import SimulateWorkflowMapItems





T = TypeVar("T", bound="SimulateWorkflow")



@_attrs_define
class SimulateWorkflow:
    """ The body of `POST /v1/workflows/{name}/simulate`.

        Attributes:
            version (int | None | Unset): The version (default: the latest).
            budget_cents (float | None | Unset): The budget to judge it against, in cents.
            map_items (SimulateWorkflowMapItems | Unset): Elements of each map node (default 1).
     """

    version: int | None | Unset = UNSET
    budget_cents: float | None | Unset = UNSET
    map_items: SimulateWorkflowMapItems | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.simulate_workflow_map_items import SimulateWorkflowMapItems # noqa: PLC0415
        version: int | None | Unset
        if isinstance(self.version, Unset):
            version = UNSET
        else:
            version = self.version

        budget_cents: float | None | Unset
        if isinstance(self.budget_cents, Unset):
            budget_cents = UNSET
        else:
            budget_cents = self.budget_cents

        map_items: dict[str, Any] | Unset = UNSET
        if not isinstance(self.map_items, Unset):
            map_items = self.map_items.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if version is not UNSET:
            field_dict["version"] = version
        if budget_cents is not UNSET:
            field_dict["budget_cents"] = budget_cents
        if map_items is not UNSET:
            field_dict["map_items"] = map_items

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.simulate_workflow_map_items import SimulateWorkflowMapItems # noqa: PLC0415
        d = dict(src_dict)
        def _parse_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        version = _parse_version(d.pop("version", UNSET))


        def _parse_budget_cents(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        budget_cents = _parse_budget_cents(d.pop("budget_cents", UNSET))


        _map_items = d.pop("map_items", UNSET)
        map_items: SimulateWorkflowMapItems | Unset
        if isinstance(_map_items,  Unset):
            map_items = UNSET
        else:
            map_items = SimulateWorkflowMapItems.from_dict(_map_items)




        simulate_workflow = cls(
            version=version,
            budget_cents=budget_cents,
            map_items=map_items,
        )

        return simulate_workflow

