from enum import StrEnum

class IdempotencyClass(StrEnum):
    IDEMPOTENT = "idempotent"
    KEYED = "keyed"
    NON_IDEMPOTENT = "non_idempotent"
    PURE = "pure"

    def __str__(self) -> str:
        return str(self.value)
