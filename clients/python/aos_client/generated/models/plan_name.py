from enum import StrEnum

class PlanName(StrEnum):
    DEV = "dev"
    ENTERPRISE = "enterprise"
    FREE = "free"
    PRO = "pro"
    UNLIMITED = "unlimited"

    def __str__(self) -> str:
        return str(self.value)
