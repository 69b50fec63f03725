from enum import StrEnum

class Role(StrEnum):
    ADMIN = "admin"
    DEV = "dev"
    INFRA = "infra"
    MACHINE = "machine"
    OPERATOR = "operator"
    READONLY = "readonly"

    def __str__(self) -> str:
        return str(self.value)
