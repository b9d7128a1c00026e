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
    NotFoundError,
    ProviderError,
    QuotaError,
    TransientError,
)
from nubes.providers.kit.errors import ErrorMap

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
    "LoadBalancerNotFound",
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
    "DuplicateLoadBalancerName",
    "DuplicateListener",
    "InvalidSubnet.Conflict",
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
    "TooManyLoadBalancers",
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


# the order matters: RequestLimitExceeded is throttling, not a quota, so transient comes first;
# unknown codes below 500 are refusals, whatever their status (EC2 answers 400 for most)
ERRORS = ErrorMap(
    codes={
        TransientError: TRANSIENT,
        NotFoundError: NOT_FOUND,
        ConflictError: CONFLICT,
        QuotaError: QUOTA,
        AuthError: AUTH,
    },
    suffixes={
        NotFoundError: (".NotFound",),
        ConflictError: (".Duplicate",),
        QuotaError: ("LimitExceeded",),
    },
    by_status={},
)


def error_class(code: str, status: int) -> type[ProviderError]:
    return ERRORS.kind(code, status)


def translate(exc: Exception) -> ProviderError:
    """A boto3 or botocore exception as a nubes error."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) or 400)
        message = str(err.get("Message") or code)
        return ERRORS.error(code, status, message)
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
