"""The reference's import path of the client (a re-export of :mod:`oqtant.client`
and :mod:`oqtant.standard_jobs`; every name that was importable here still is).
"""

from oqtant._progress import (
    tqdm,
)
from oqtant.client import (
    OqtantClient,
    current_client,
    get_client,
    get_oqtant_client,
)
from oqtant.client.login import (
    ClientSettings,
    TokenCache,
    decode_token_claims,
    get_user_token,
)
from oqtant.errors import (
    AuthenticationError,
    ConnectionError,
    JobFileError,
    JobNotFoundError,
    OqtantError,
    QuotaExceededError,
    ServerError,
    ValidationError,
    format_pydantic_error,
)
from oqtant.schemas.job import (
    TERMINAL_STATUSES,
    Input,
    JobStatus,
    JobType,
    OqtantJob,
    RawImages,
)
from oqtant.standard_jobs import (
    barrier_manipulator_job,
    ultracold_matter_job,
)

__all__ = [
    "OqtantClient",
    "get_oqtant_client",
    "get_client",
    "current_client",
    "ultracold_matter_job",
    "barrier_manipulator_job",
    "TERMINAL_STATUSES",
]
