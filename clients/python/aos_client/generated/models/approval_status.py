from enum import StrEnum

class ApprovalStatus(StrEnum):
    APPROVED = "approved"
    CANCELLED = "cancelled"
    ESCALATED = "escalated"
    EXPIRED = "expired"
    PENDING = "pending"
    REJECTED = "rejected"

    def __str__(self) -> str:
        return str(self.value)
