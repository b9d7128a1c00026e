"""The Amazon EC2 driver (`driver: ec2`), with S3 for buckets, on boto3.

Guarantees: refresh is one paginated Describe call per resource type (S3 buckets: one list and a
tag read per bucket); every object is tagged with the stack, address and idempotency token in the
call that creates it; AWS's error codes reach the user verbatim, as typed errors.
"""

from nubes.providers.ec2.driver import Ec2Driver

__all__ = ["Ec2Driver"]
