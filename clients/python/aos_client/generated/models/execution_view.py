from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.exec_status import ExecStatus
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.compensation_state import CompensationState
  from ..models.envelope_view import EnvelopeView
  from ..models.node_view import NodeView
  from ..models.outcome_error import OutcomeError





T = TypeVar("T", bound="ExecutionView")



@_attrs_define
class ExecutionView:
    """ A workflow execution.

        Attributes:
            id (str): A execution id: `exe_` and lower-case letters, digits, '_' or '-'.
            tenant_id (str): A tenant id: `ten_` and lower-case letters, digits, '_' or '-'.
            workflow (str): Its workflow.
            version (int): The workflow's version it runs.
            status (ExecStatus): Status of an execution.
            finished (bool): Whether it has ended.
            input_ (Any): Its input.
            base_seed (int): Base of its runs' seeds.
            nodes (list[NodeView]): Its nodes that started, in the spec's order.
            compensations (list[CompensationState]): The compensations run after a failure, in order.
            created_at_ms (int): Creation time, ms since the epoch.
            updated_at_ms (int): Last change, ms since the epoch.
            output (Any | Unset): Its output, once completed.
            output_error (None | str | Unset): Why its output could not be made.
            error (None | OutcomeError | Unset):
            failed_node (None | str | Unset): The node that failed it.
            budget_cents (float | None | Unset): The most its runs may spend together, in cents.
            envelope (EnvelopeView | None | Unset):
     """

    id: str
    tenant_id: str
    workflow: str
    version: int
    status: ExecStatus
    finished: bool
    input_: Any
    base_seed: int
    nodes: list[NodeView]
    compensations: list[CompensationState]
    created_at_ms: int
    updated_at_ms: int
    output: Any | Unset = UNSET
    output_error: None | str | Unset = UNSET
    error: None | OutcomeError | Unset = UNSET
    failed_node: None | str | Unset = UNSET
    budget_cents: float | None | Unset = UNSET
    envelope: EnvelopeView | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.compensation_state import CompensationState # noqa: PLC0415
        from ..models.envelope_view import EnvelopeView # noqa: PLC0415
        from ..models.node_view import NodeView # noqa: PLC0415
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        id = self.id

        tenant_id = self.tenant_id

        workflow = self.workflow

        version = self.version

        status = self.status.value

        finished = self.finished

        input_ = self.input_

        base_seed = self.base_seed

        nodes = []
        for nodes_item_data in self.nodes:
            nodes_item = nodes_item_data.to_dict()
            nodes.append(nodes_item)



        compensations = []
        for compensations_item_data in self.compensations:
            compensations_item = compensations_item_data.to_dict()
            compensations.append(compensations_item)



        created_at_ms = self.created_at_ms

        updated_at_ms = self.updated_at_ms

        output = self.output

        output_error: None | str | Unset
        if isinstance(self.output_error, Unset):
            output_error = UNSET
        else:
            output_error = self.output_error

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, OutcomeError):
            error = self.error.to_dict()
        else:
            error = self.error

        failed_node: None | str | Unset
        if isinstance(self.failed_node, Unset):
            failed_node = UNSET
        else:
            failed_node = self.failed_node

        budget_cents: float | None | Unset
        if isinstance(self.budget_cents, Unset):
            budget_cents = UNSET
        else:
            budget_cents = self.budget_cents

        envelope: dict[str, Any] | None | Unset
        if isinstance(self.envelope, Unset):
            envelope = UNSET
        elif isinstance(self.envelope, EnvelopeView):
            envelope = self.envelope.to_dict()
        else:
            envelope = self.envelope


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "tenant_id": tenant_id,
            "workflow": workflow,
            "version": version,
            "status": status,
            "finished": finished,
            "input": input_,
            "base_seed": base_seed,
            "nodes": nodes,
            "compensations": compensations,
            "created_at_ms": created_at_ms,
            "updated_at_ms": updated_at_ms,
        })
        if output is not UNSET:
            field_dict["output"] = output
        if output_error is not UNSET:
            field_dict["output_error"] = output_error
        if error is not UNSET:
            field_dict["error"] = error
        if failed_node is not UNSET:
            field_dict["failed_node"] = failed_node
        if budget_cents is not UNSET:
            field_dict["budget_cents"] = budget_cents
        if envelope is not UNSET:
            field_dict["envelope"] = envelope

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.compensation_state import CompensationState # noqa: PLC0415
        from ..models.envelope_view import EnvelopeView # noqa: PLC0415
        from ..models.node_view import NodeView # noqa: PLC0415
        from ..models.outcome_error import OutcomeError # noqa: PLC0415
        d = dict(src_dict)
        id = d.pop("id")

        tenant_id = d.pop("tenant_id")

        workflow = d.pop("workflow")

        version = d.pop("version")

        status = ExecStatus(d.pop("status"))




        finished = d.pop("finished")

        input_ = d.pop("input")

        base_seed = d.pop("base_seed")

        nodes = []
        _nodes = d.pop("nodes")
        for nodes_item_data in (_nodes):
            nodes_item = NodeView.from_dict(nodes_item_data)



            nodes.append(nodes_item)


        compensations = []
        _compensations = d.pop("compensations")
        for compensations_item_data in (_compensations):
            compensations_item = CompensationState.from_dict(compensations_item_data)



            compensations.append(compensations_item)


        created_at_ms = d.pop("created_at_ms")

        updated_at_ms = d.pop("updated_at_ms")

        output = d.pop("output", UNSET)

        def _parse_output_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        output_error = _parse_output_error(d.pop("output_error", UNSET))


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


        def _parse_failed_node(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        failed_node = _parse_failed_node(d.pop("failed_node", UNSET))


        def _parse_budget_cents(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        budget_cents = _parse_budget_cents(d.pop("budget_cents", UNSET))


        def _parse_envelope(data: object) -> EnvelopeView | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                envelope_type_1 = EnvelopeView.from_dict(data)



                return envelope_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(EnvelopeView | None | Unset, data)

        envelope = _parse_envelope(d.pop("envelope", UNSET))


        execution_view = cls(
            id=id,
            tenant_id=tenant_id,
            workflow=workflow,
            version=version,
            status=status,
            finished=finished,
            input_=input_,
            base_seed=base_seed,
            nodes=nodes,
            compensations=compensations,
            created_at_ms=created_at_ms,
            updated_at_ms=updated_at_ms,
            output=output,
            output_error=output_error,
            error=error,
            failed_node=failed_node,
            budget_cents=budget_cents,
            envelope=envelope,
        )


        execution_view.additional_properties = d
        return execution_view

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
