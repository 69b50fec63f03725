from enum import StrEnum

class GrantState(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
    SCHEDULED = "scheduled"

    def __str__(self) -> str:
        return str(self.value)
