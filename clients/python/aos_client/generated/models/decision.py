from enum import StrEnum

class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    REQUIRES_APPROVAL = "requires_approval"

    def __str__(self) -> str:
        return str(self.value)
