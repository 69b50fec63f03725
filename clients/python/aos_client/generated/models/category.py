from enum import StrEnum

class Category(StrEnum):
    CUSTOM = "CUSTOM"
    OPERATIONAL = "OPERATIONAL"
    PRIVACY = "PRIVACY"
    ROUTING = "ROUTING"
    SAFETY = "SAFETY"

    def __str__(self) -> str:
        return str(self.value)
