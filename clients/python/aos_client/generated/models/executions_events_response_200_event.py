from enum import StrEnum

class ExecutionsEventsResponse200Event(StrEnum):
    COMPENSATION = "compensation"
    EXECUTION = "execution"
    NODE = "node"

    def __str__(self) -> str:
        return str(self.value)
