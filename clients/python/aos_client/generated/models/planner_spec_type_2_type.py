from enum import StrEnum

class PlannerSpecType2Type(StrEnum):
    REPLAY = "replay"

    def __str__(self) -> str:
        return str(self.value)
