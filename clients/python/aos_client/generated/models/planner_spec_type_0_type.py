from enum import StrEnum

class PlannerSpecType0Type(StrEnum):
    LLM = "llm"

    def __str__(self) -> str:
        return str(self.value)
