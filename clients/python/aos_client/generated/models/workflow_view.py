from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.workflow_spec import WorkflowSpec





T = TypeVar("T", bound="WorkflowView")



@_attrs_define
class WorkflowView:
    """ A stored version of a workflow.

        Attributes:
            name (str): Its name.
            version (int): Its version (1 for the first, one more per changed spec).
            spec (WorkflowSpec): A workflow: a DAG of nodes, declared once and run on either backend.
            spec_hash (str): The spec's content hash.
            created_at_ms (int): When this version was stored, ms since the epoch.
     """

    name: str
    version: int
    spec: WorkflowSpec
    spec_hash: str
    created_at_ms: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.workflow_spec import WorkflowSpec # noqa: PLC0415
        name = self.name

        version = self.version

        spec = self.spec.to_dict()

        spec_hash = self.spec_hash

        created_at_ms = self.created_at_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "name": name,
            "version": version,
            "spec": spec,
            "spec_hash": spec_hash,
            "created_at_ms": created_at_ms,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.workflow_spec import WorkflowSpec # noqa: PLC0415
        d = dict(src_dict)
        name = d.pop("name")

        version = d.pop("version")

        spec = WorkflowSpec.from_dict(d.pop("spec"))




        spec_hash = d.pop("spec_hash")

        created_at_ms = d.pop("created_at_ms")

        workflow_view = cls(
            name=name,
            version=version,
            spec=spec,
            spec_hash=spec_hash,
            created_at_ms=created_at_ms,
        )


        workflow_view.additional_properties = d
        return workflow_view

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
