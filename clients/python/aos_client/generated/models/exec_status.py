from enum import StrEnum

class ExecStatus(StrEnum):
    CANCELLED = "cancelled"
    COMPENSATING = "compensating"
    FAILED = "failed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"

    def __str__(self) -> str:
        return str(self.value)
