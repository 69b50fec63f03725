""" Contains all the data models used in inputs/outputs """

from .account import Account
from .account_view import AccountView
from .actor import Actor
from .agent_options import AgentOptions
from .alternative import Alternative
from .approval_list import ApprovalList
from .approval_status import ApprovalStatus
from .approval_step_view import ApprovalStepView
from .approval_transition import ApprovalTransition
from .approval_view import ApprovalView
from .audit_entry import AuditEntry
from .audit_event import AuditEvent
from .audit_page import AuditPage
from .book_view import BookView
from .book_view_accounts import BookViewAccounts
from .caller_link import CallerLink
from .category import Category
from .cause import Cause
from .checkpoint import Checkpoint
from .choice_rule import ChoiceRule
from .compensation import Compensation
from .compensation_state import CompensationState
from .condition import Condition
from .condition_op import ConditionOp
from .counters_view import CountersView
from .credit_estimate import CreditEstimate
from .decision import Decision
from .decision_body import DecisionBody
from .env_override import EnvOverride
from .envelope_view import EnvelopeView
from .error_body import ErrorBody
from .error_category import ErrorCategory
from .error_code import ErrorCode
from .error_detail import ErrorDetail
from .evaluation import Evaluation
from .evaluation_view import EvaluationView
from .exec_status import ExecStatus
from .execution_view import ExecutionView
from .executions_events_response_200 import ExecutionsEventsResponse200
from .executions_events_response_200_event import ExecutionsEventsResponse200Event
from .finished_step import FinishedStep
from .flag_evaluation import FlagEvaluation
from .flag_list import FlagList
from .flag_op import FlagOp
from .flag_spec import FlagSpec
from .flag_spec_environments import FlagSpecEnvironments
from .flag_view import FlagView
from .flag_view_environments import FlagViewEnvironments
from .gate_decision import GateDecision
from .gate_record import GateRecord
from .grant_kind import GrantKind
from .grant_made import GrantMade
from .grant_state import GrantState
from .grant_view import GrantView
from .health import Health
from .idempotency_class import IdempotencyClass
from .items_view import ItemsView
from .join import Join
from .key_list import KeyList
from .key_view import KeyView
from .ledger_page import LedgerPage
from .new_grant import NewGrant
from .new_key import NewKey
from .new_key_view import NewKeyView
from .new_plan import NewPlan
from .new_policies import NewPolicies
from .new_retention import NewRetention
from .new_tenant import NewTenant
from .new_value import NewValue
from .node_spec import NodeSpec
from .node_status import NodeStatus
from .node_type import NodeType
from .node_view import NodeView
from .openapi_response_200 import OpenapiResponse200
from .outcome_error import OutcomeError
from .parent_view import ParentView
from .pending_state import PendingState
from .permission import Permission
from .plan_name import PlanName
from .plan_step import PlanStep
from .planner_spec_type_0 import PlannerSpecType0
from .planner_spec_type_0_type import PlannerSpecType0Type
from .planner_spec_type_1 import PlannerSpecType1
from .planner_spec_type_1_type import PlannerSpecType1Type
from .planner_spec_type_2 import PlannerSpecType2
from .planner_spec_type_2_type import PlannerSpecType2Type
from .policy_list import PolicyList
from .policy_view import PolicyView
from .priced_step import PricedStep
from .quota_check import QuotaCheck
from .quota_name import QuotaName
from .quotas_view import QuotasView
from .retry_policy import RetryPolicy
from .risk import Risk
from .role import Role
from .rule import Rule
from .run_list import RunList
from .run_status import RunStatus
from .run_view import RunView
from .runs_events_response_200 import RunsEventsResponse200
from .runs_events_response_200_event import RunsEventsResponse200Event
from .sample_step import SampleStep
from .secret_list import SecretList
from .secret_meta import SecretMeta
from .secret_written import SecretWritten
from .set_flag import SetFlag
from .sim_metadata import SimMetadata
from .simulate_run import SimulateRun
from .simulate_workflow import SimulateWorkflow
from .simulate_workflow_map_items import SimulateWorkflowMapItems
from .simulation import Simulation
from .simulation_answer import SimulationAnswer
from .skill_descriptor import SkillDescriptor
from .skill_list import SkillList
from .source import Source
from .start_execution import StartExecution
from .step_charge import StepCharge
from .step_estimate import StepEstimate
from .step_status import StepStatus
from .steps_view import StepsView
from .structured_outcome import StructuredOutcome
from .submit_run import SubmitRun
from .tenant_created import TenantCreated
from .tenant_view import TenantView
from .transfer_kind import TransferKind
from .transfer_view import TransferView
from .unfinished_step import UnfinishedStep
from .usage_group import UsageGroup
from .usage_report import UsageReport
from .violation import Violation
from .workflow_spec import WorkflowSpec
from .workflow_version_ref import WorkflowVersionRef
from .workflow_view import WorkflowView

__all__ = (
    "Account",
    "AccountView",
    "Actor",
    "AgentOptions",
    "Alternative",
    "ApprovalList",
    "ApprovalStatus",
    "ApprovalStepView",
    "ApprovalTransition",
    "ApprovalView",
    "AuditEntry",
    "AuditEvent",
    "AuditPage",
    "BookView",
    "BookViewAccounts",
    "CallerLink",
    "Category",
    "Cause",
    "Checkpoint",
    "ChoiceRule",
    "Compensation",
    "CompensationState",
    "Condition",
    "ConditionOp",
    "CountersView",
    "CreditEstimate",
    "Decision",
    "DecisionBody",
    "EnvelopeView",
    "EnvOverride",
    "ErrorBody",
    "ErrorCategory",
    "ErrorCode",
    "ErrorDetail",
    "Evaluation",
    "EvaluationView",
    "ExecStatus",
    "ExecutionsEventsResponse200",
    "ExecutionsEventsResponse200Event",
    "ExecutionView",
    "FinishedStep",
    "FlagEvaluation",
    "FlagList",
    "FlagOp",
    "FlagSpec",
    "FlagSpecEnvironments",
    "FlagView",
    "FlagViewEnvironments",
    "GateDecision",
    "GateRecord",
    "GrantKind",
    "GrantMade",
    "GrantState",
    "GrantView",
    "Health",
    "IdempotencyClass",
    "ItemsView",
    "Join",
    "KeyList",
    "KeyView",
    "LedgerPage",
    "NewGrant",
    "NewKey",
    "NewKeyView",
    "NewPlan",
    "NewPolicies",
    "NewRetention",
    "NewTenant",
    "NewValue",
    "NodeSpec",
    "NodeStatus",
    "NodeType",
    "NodeView",
    "OpenapiResponse200",
    "OutcomeError",
    "ParentView",
    "PendingState",
    "Permission",
    "PlanName",
    "PlannerSpecType0",
    "PlannerSpecType0Type",
    "PlannerSpecType1",
    "PlannerSpecType1Type",
    "PlannerSpecType2",
    "PlannerSpecType2Type",
    "PlanStep",
    "PolicyList",
    "PolicyView",
    "PricedStep",
    "QuotaCheck",
    "QuotaName",
    "QuotasView",
    "RetryPolicy",
    "Risk",
    "Role",
    "Rule",
    "RunList",
    "RunsEventsResponse200",
    "RunsEventsResponse200Event",
    "RunStatus",
    "RunView",
    "SampleStep",
    "SecretList",
    "SecretMeta",
    "SecretWritten",
    "SetFlag",
    "SimMetadata",
    "SimulateRun",
    "SimulateWorkflow",
    "SimulateWorkflowMapItems",
    "Simulation",
    "SimulationAnswer",
    "SkillDescriptor",
    "SkillList",
    "Source",
    "StartExecution",
    "StepCharge",
    "StepEstimate",
    "StepStatus",
    "StepsView",
    "StructuredOutcome",
    "SubmitRun",
    "TenantCreated",
    "TenantView",
    "TransferKind",
    "TransferView",
    "UnfinishedStep",
    "UsageGroup",
    "UsageReport",
    "Violation",
    "WorkflowSpec",
    "WorkflowVersionRef",
    "WorkflowView",
)
