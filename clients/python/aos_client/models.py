"""The API's models (generated from docs/openapi.json): `from aos_client.models import RunView`."""

from .generated.models import *  # noqa: F401,F403
from .generated.models import __all__  # noqa: F401
