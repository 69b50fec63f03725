from enum import StrEnum

class Account(StrEnum):
    CREDITS = "credits"
    EXPIRED = "expired"
    GRANTS = "grants"
    SPENT = "spent"

    def __str__(self) -> str:
        return str(self.value)
