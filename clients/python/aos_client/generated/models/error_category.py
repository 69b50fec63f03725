from enum import StrEnum

class ErrorCategory(StrEnum):
    CLIENT = "client"
    INFRA = "infra"
    POLICY = "policy"
    SAFETY = "safety"
    THIRD_PARTY = "third_party"
    TRANSIENT = "transient"

    def __str__(self) -> str:
        return str(self.value)
