from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.node_spec import NodeSpec





T = TypeVar("T", bound="WorkflowSpec")



@_attrs_define
class WorkflowSpec:
    """ A workflow: a DAG of nodes, declared once and run on either backend.

        Attributes:
            name (str): Name, unique per tenant: `a-z`, `0-9`, `-`, `_`, 1–64 characters. Applying a
                changed spec under the same name creates the next version.
            nodes (list[NodeSpec]): The nodes; order matters only to break ties (see [`super::Graph::canonical_order`]).
            description (None | str | Unset): Free text.
            output (Any | Unset): The execution's output, templated from `${input...}` and `${steps.<id>.output...}`.
                Without it the output is every completed node's output, by node id.
     """

    name: str
    nodes: list[NodeSpec]
    description: None | str | Unset = UNSET
    output: Any | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.node_spec import NodeSpec # noqa: PLC0415
        name = self.name

        nodes = []
        for nodes_item_data in self.nodes:
            nodes_item = nodes_item_data.to_dict()
            nodes.append(nodes_item)



        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        output = self.output


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "name": name,
            "nodes": nodes,
        })
        if description is not UNSET:
            field_dict["description"] = description
        if output is not UNSET:
            field_dict["output"] = output

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.node_spec import NodeSpec # noqa: PLC0415
        d = dict(src_dict)
        name = d.pop("name")

        nodes = []
        _nodes = d.pop("nodes")
        for nodes_item_data in (_nodes):
            nodes_item = NodeSpec.from_dict(nodes_item_data)



            nodes.append(nodes_item)


        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))


        output = d.pop("output", UNSET)

        workflow_spec = cls(
            name=name,
            nodes=nodes,
            description=description,
            output=output,
        )

        return workflow_spec

