from enum import StrEnum

class PlannerSpecType1Type(StrEnum):
    STATIC = "static"

    def __str__(self) -> str:
        return str(self.value)
