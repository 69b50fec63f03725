from enum import StrEnum

class NodeStatus(StrEnum):
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"
    PENDING = "pending"
    RUNNING = "running"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    WAITING = "waiting"

    def __str__(self) -> str:
        return str(self.value)
