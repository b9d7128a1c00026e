"""EC2 and S3 error codes mapped to nubes' typed errors; the message quotes AWS's code and text.

A code not in the tables maps by its HTTP status: 5xx is transient, anything else a refusal.
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from nubes.providers.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    QuotaError,
    TransientError,
)

NOT_FOUND = {
    "InvalidInstanceID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidVolume.NotFound",
    "InvalidSnapshot.NotFound",
    "InvalidAllocationID.NotFound",
    "InvalidKeyPair.NotFound",
    "InvalidAMIID.NotFound",
    "InvalidAssociationID.NotFound",
    "NoSuchBucket",
    "NotFound",
    "InvalidAddress.NotFound",
    "InvalidGroupId.Malformed",
    "NoSuchKey",
}
CONFLICT = {
    "DependencyViolation",
    "IncorrectInstanceState",
    "IncorrectState",
    "VolumeInUse",
    "InvalidKeyPair.Duplicate",
    "InvalidGroup.Duplicate",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "InvalidIPAddress.InUse",
    "Resource.AlreadyAssociated",
    "InvalidPermission.Duplicate",
    "BucketNotEmpty",
    "IdempotentParameterMismatch",
}
QUOTA = {
    "InstanceLimitExceeded",
    "VolumeLimitExceeded",
    "AddressLimitExceeded",
    "SecurityGroupLimitExceeded",
    "SnapshotLimitExceeded",
    "TooManyBuckets",
    "InsufficientInstanceCapacity",
    "VcpuLimitExceeded",
    "MaxSpotInstanceCountExceeded",
}
TRANSIENT = {
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "SlowDown",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
}
AUTH = {
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "OptInRequired",
    "Blocked",
    "InvalidAccessKeyId",
}


def error_class(code: str, status: int) -> type[ProviderError]:
    if code in TRANSIENT:  # before the suffixes: RequestLimitExceeded is throttling, not quota
        return TransientError
    if code in NOT_FOUND or code.endswith(".NotFound"):
        return NotFoundError
    if code in CONFLICT or code.endswith(".Duplicate"):
        return ConflictError
    if code in QUOTA or code.endswith("LimitExceeded"):
        return QuotaError
    if code in TRANSIENT or status >= 500:
        return TransientError
    if code in AUTH:
        return AuthError
    return InvalidRequestError


def translate(exc: Exception) -> ProviderError:
    """A boto3 or botocore exception as a nubes error."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) or 400)
        message = str(err.get("Message") or code)
        return error_class(code, status)(f"{code}: {message}", code)
    if isinstance(exc, NoCredentialsError):
        return AuthError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
            "or access_key_id and secret_access_key in the nubes credentials file",
            "NoCredentials",
        )
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError):
        return TransientError(f"cannot reach EC2: {exc}", "ConnectionError")
    if isinstance(exc, ResponseParserError):  # an HTML error page instead of EC2's XML
        return TransientError(
            f"EC2 answered with something that is not EC2's XML: {str(exc)[:300]}",
            "UnparsableResponse",
        )
    if isinstance(exc, ProviderError):
        return exc
    return ProviderError(f"{type(exc).__name__}: {exc}")
