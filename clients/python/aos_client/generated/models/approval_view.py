from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.approval_status import ApprovalStatus
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.approval_step_view import ApprovalStepView
  from ..models.approval_transition import ApprovalTransition





T = TypeVar("T", bound="ApprovalView")



@_attrs_define
class ApprovalView:
    """ An approval: of a workflow's approval node, or of a run step a policy held back.

        Attributes:
            id (str): A approval id: `apr_` and lower-case letters, digits, '_' or '-'.
            kind (str): `step` or `workflow_node`.
            history (list[ApprovalTransition]): Every change of its status, oldest first.
            workflow (str): Its workflow ("" for a step's approval).
            node (str): The approval node ("" for a step's approval).
            prompt (str): What the approver is asked.
            status (ApprovalStatus): Status of an approval.
            required_level (int): The level (1-5) a decider's key must hold.
            expires_at_ms (int): When it times out, ms since the epoch.
            created_at_ms (int): Creation time.
            step (ApprovalStepView | None | Unset):
            execution_id (None | str | Unset):
            decided_by (None | str | Unset): Who decided.
            comment (None | str | Unset): Their comment.
            closed_at_ms (int | None | Unset): When it closed.
     """

    id: str
    kind: str
    history: list[ApprovalTransition]
    workflow: str
    node: str
    prompt: str
    status: ApprovalStatus
    required_level: int
    expires_at_ms: int
    created_at_ms: int
    step: ApprovalStepView | None | Unset = UNSET
    execution_id: None | str | Unset = UNSET
    decided_by: None | str | Unset = UNSET
    comment: None | str | Unset = UNSET
    closed_at_ms: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.approval_step_view import ApprovalStepView # noqa: PLC0415
        from ..models.approval_transition import ApprovalTransition # noqa: PLC0415
        id = self.id

        kind = self.kind

        history = []
        for history_item_data in self.history:
            history_item = history_item_data.to_dict()
            history.append(history_item)



        workflow = self.workflow

        node = self.node

        prompt = self.prompt

        status = self.status.value

        required_level = self.required_level

        expires_at_ms = self.expires_at_ms

        created_at_ms = self.created_at_ms

        step: dict[str, Any] | None | Unset
        if isinstance(self.step, Unset):
            step = UNSET
        elif isinstance(self.step, ApprovalStepView):
            step = self.step.to_dict()
        else:
            step = self.step

        execution_id: None | str | Unset
        if isinstance(self.execution_id, Unset):
            execution_id = UNSET
        else:
            execution_id = self.execution_id

        decided_by: None | str | Unset
        if isinstance(self.decided_by, Unset):
            decided_by = UNSET
        else:
            decided_by = self.decided_by

        comment: None | str | Unset
        if isinstance(self.comment, Unset):
            comment = UNSET
        else:
            comment = self.comment

        closed_at_ms: int | None | Unset
        if isinstance(self.closed_at_ms, Unset):
            closed_at_ms = UNSET
        else:
            closed_at_ms = self.closed_at_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "kind": kind,
            "history": history,
            "workflow": workflow,
            "node": node,
            "prompt": prompt,
            "status": status,
            "required_level": required_level,
            "expires_at_ms": expires_at_ms,
            "created_at_ms": created_at_ms,
        })
        if step is not UNSET:
            field_dict["step"] = step
        if execution_id is not UNSET:
            field_dict["execution_id"] = execution_id
        if decided_by is not UNSET:
            field_dict["decided_by"] = decided_by
        if comment is not UNSET:
            field_dict["comment"] = comment
        if closed_at_ms is not UNSET:
            field_dict["closed_at_ms"] = closed_at_ms

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.approval_step_view import ApprovalStepView # noqa: PLC0415
        from ..models.approval_transition import ApprovalTransition # noqa: PLC0415
        d = dict(src_dict)
        id = d.pop("id")

        kind = d.pop("kind")

        history = []
        _history = d.pop("history")
        for history_item_data in (_history):
            history_item = ApprovalTransition.from_dict(history_item_data)



            history.append(history_item)


        workflow = d.pop("workflow")

        node = d.pop("node")

        prompt = d.pop("prompt")

        status = ApprovalStatus(d.pop("status"))




        required_level = d.pop("required_level")

        expires_at_ms = d.pop("expires_at_ms")

        created_at_ms = d.pop("created_at_ms")

        def _parse_step(data: object) -> ApprovalStepView | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                step_type_1 = ApprovalStepView.from_dict(data)



                return step_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ApprovalStepView | None | Unset, data)

        step = _parse_step(d.pop("step", UNSET))


        def _parse_execution_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        execution_id = _parse_execution_id(d.pop("execution_id", UNSET))


        def _parse_decided_by(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        decided_by = _parse_decided_by(d.pop("decided_by", UNSET))


        def _parse_comment(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        comment = _parse_comment(d.pop("comment", UNSET))


        def _parse_closed_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        closed_at_ms = _parse_closed_at_ms(d.pop("closed_at_ms", UNSET))


        approval_view = cls(
            id=id,
            kind=kind,
            history=history,
            workflow=workflow,
            node=node,
            prompt=prompt,
            status=status,
            required_level=required_level,
            expires_at_ms=expires_at_ms,
            created_at_ms=created_at_ms,
            step=step,
            execution_id=execution_id,
            decided_by=decided_by,
            comment=comment,
            closed_at_ms=closed_at_ms,
        )


        approval_view.additional_properties = d
        return approval_view

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
