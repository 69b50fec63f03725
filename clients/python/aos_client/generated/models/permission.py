from enum import StrEnum

class Permission(StrEnum):
    APPROVALSDECIDE = "approvals:decide"
    APPROVALSREAD = "approvals:read"
    AUDITREAD = "audit:read"
    CREDITSREAD = "credits:read"
    EXECUTIONSWRITE = "executions:write"
    FLAGSREAD = "flags:read"
    FLAGSWRITE = "flags:write"
    KEYSREAD = "keys:read"
    KEYSWRITE = "keys:write"
    POLICIESREAD = "policies:read"
    POLICIESWRITE = "policies:write"
    RUNSREAD = "runs:read"
    RUNSWRITE = "runs:write"
    SECRETSREAD = "secrets:read"
    SECRETSWRITE = "secrets:write"
    SKILLSREAD = "skills:read"
    TENANTSADMIN = "tenants:admin"
    TENANTWRITE = "tenant:write"
    WORKFLOWSREAD = "workflows:read"
    WORKFLOWSWRITE = "workflows:write"

    def __str__(self) -> str:
        return str(self.value)
