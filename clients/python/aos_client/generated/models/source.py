from enum import StrEnum

class Source(StrEnum):
    PRICE_TABLE = "price_table"
    RECORDED = "recorded"
    SEED = "seed"

    def __str__(self) -> str:
        return str(self.value)
