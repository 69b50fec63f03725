from enum import StrEnum

class GateDecision(StrEnum):
    ALLOW = "allow"
    APPROVED = "approved"
    DENY = "deny"
    EXPIRED = "expired"
    REJECTED = "rejected"

    def __str__(self) -> str:
        return str(self.value)
