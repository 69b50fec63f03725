from enum import StrEnum

class QuotaName(StrEnum):
    API_KEYS = "api_keys"
    CONCURRENT_RUNS = "concurrent_runs"
    RUNS_PER_DAY = "runs_per_day"
    SPEND_PER_DAY = "spend_per_day"
    SPEND_PER_HOUR = "spend_per_hour"
    TOKENS_PER_MONTH = "tokens_per_month"

    def __str__(self) -> str:
        return str(self.value)
