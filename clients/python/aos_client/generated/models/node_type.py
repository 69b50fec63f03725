from enum import StrEnum

class NodeType(StrEnum):
    APPROVAL = "approval"
    CHOICE = "choice"
    MAP = "map"
    TASK = "task"
    WAIT = "wait"

    def __str__(self) -> str:
        return str(self.value)
