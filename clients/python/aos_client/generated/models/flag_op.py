from enum import StrEnum

class FlagOp(StrEnum):
    IN = "in"
    NOT_IN = "not_in"
    PREFIX = "prefix"

    def __str__(self) -> str:
        return str(self.value)
