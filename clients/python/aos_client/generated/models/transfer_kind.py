from enum import StrEnum

class TransferKind(StrEnum):
    EXPIRE = "expire"
    FORFEIT = "forfeit"
    GRANT = "grant"
    POST = "post"
    REFUND = "refund"
    RESERVE = "reserve"
    VOID = "void"

    def __str__(self) -> str:
        return str(self.value)
