from enum import StrEnum

class GrantKind(StrEnum):
    PAID = "paid"
    PROMOTIONAL = "promotional"
    REFUND = "refund"

    def __str__(self) -> str:
        return str(self.value)
