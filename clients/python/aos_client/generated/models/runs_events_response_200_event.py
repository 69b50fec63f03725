from enum import StrEnum

class RunsEventsResponse200Event(StrEnum):
    RUN = "run"
    STEP = "step"

    def __str__(self) -> str:
        return str(self.value)
