"""The S3 backend: states as objects in a bucket, as Terraform's s3 backend keeps them.

```
<prefix><stack>.json                      the state (the default workspace)
<prefix>workspaces/<name>/<stack>.json    the state in workspace <name>
<state key>.lock, <state key>.lock.readers/<id>   the lock (engine.state.lease)
<state key>.journal/<seq>                 the intent journal, one object per batch of records
<prefix>history/<workspace>/<stack>/...   applies and the stack files they applied
```

Each write is one PUT, conditional on the version this run last saw (`If-Match`), so even a
writer that lost its lock cannot overwrite a newer state. In a versioned bucket the object's
versions are the backups; in an unversioned one the previous state is copied to
`<state key>.backup` first. Locks are S3 conditional writes (`If-None-Match: *`), or items in a
DynamoDB table when `lock_table` is set (hash key `LockID`, a string, as Terraform's).
Credentials come from boto3's chain (AWS_* variables, a profile, an instance role).
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from nubes.engine.state.backend import HistoryEntry
from nubes.engine.state.codec import decode_state, next_version, version_of
from nubes.engine.state.journal import RecordJournal
from nubes.engine.state.lease import LeaseLock, Records, force_unlock, holder, lease_seconds
from nubes.engine.state.lock import LockInfo
from nubes.engine.state.model import State, StateError
from nubes.engine.state.settings import DEFAULT_WORKSPACE

MAX_STATE_BYTES = 1024 * 1024 * 1024
_lock = threading.Lock()


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__


def describe_aws_error(exc: BaseException, where: str, doing: str) -> str:
    code = _code(exc)
    hint = {
        "NoSuchBucket": "the bucket does not exist: create it (with versioning on) first",
        "AccessDenied": "access denied: the credentials in the environment may not do this",
        "InvalidAccessKeyId": "the AWS access key in the environment is not known there",
        "SignatureDoesNotMatch": "the AWS secret key in the environment does not match",
        "NoCredentialsError": "no AWS credentials: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
        "EndpointConnectionError": "the endpoint cannot be reached",
        "ConnectTimeoutError": "the endpoint did not answer in time",
        "ReadTimeoutError": "the endpoint did not answer in time",
        "ResourceNotFoundException": "the DynamoDB lock table does not exist: create it with "
        "a string hash key LockID",
    }.get(code)
    if hint is None:
        response = getattr(exc, "response", None) or {}
        message = str(response.get("Error", {}).get("Message", "")) or str(exc)
        hint = f"{code}: {' '.join(message.split())[:300]}"
    return f"cannot {doing} {where}: {hint}"


def _errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


class S3Store:
    def __init__(self, settings: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.bucket = str(settings["bucket"])
        self.prefix = str(settings.get("prefix", ""))
        self.region = str(settings.get("region", "us-east-1"))
        self.endpoint = settings.get("endpoint")
        self.lock_table = settings.get("lock_table")
        self.lease = lease_seconds(environ)
        self.environ = dict(environ)
        self._client: Any = None
        self._dynamo: Any = None
        self._versioned: bool | None = None

    # ---- clients -------------------------------------------------------------------------------

    def _session_client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=32,
        )
        env = self.environ  # the environment given (a server's), else boto3's own chain
        session = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
            profile_name=env.get("AWS_PROFILE") or None,
            region_name=self.region,
        )
        return session.client(service, endpoint_url=self.endpoint, config=config)

    @property
    def client(self) -> Any:
        with _lock:
            if self._client is None:
                self._client = self._session_client("s3")
            return self._client

    @property
    def dynamo(self) -> Any:
        with _lock:
            if self._dynamo is None:
                self._dynamo = self._session_client("dynamodb")
            return self._dynamo

    def call(self, doing: str, key: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except _errors() as exc:
            raise StateError(describe_aws_error(exc, self.url(key), doing)) from None

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def versioned(self) -> bool:
        if self._versioned is None:
            answer = self.call("read the versioning of", "", self.client.get_bucket_versioning)
            self._versioned = answer.get("Status") == "Enabled"
        return self._versioned

    def keys(self, prefix: str, delimiter: str | None = None) -> list[str]:
        out: list[str] = []
        kwargs: dict[str, Any] = {"Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        while True:
            page = self.call("list", prefix, self.client.list_objects_v2, **kwargs)
            out += [item["Key"] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return out
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def get(self, key: str, limit: int = MAX_STATE_BYTES) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, None when there is none."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except _errors() as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise StateError(describe_aws_error(exc, self.url(key), "read")) from None
        if int(answer.get("ContentLength", 0)) > limit:
            raise StateError(f"{self.url(key)} is larger than {limit // 2**20} MiB")
        try:
            return answer["Body"].read(), str(answer["ETag"])
        except _errors() as exc:
            raise StateError(describe_aws_error(exc, self.url(key), "read")) from None

    def put(self, key: str, data: bytes, **conditions: str) -> str | None:
        """PUT `data`; its ETag, or None when a condition (IfMatch, IfNoneMatch) failed."""
        try:
            answer = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/json",
                **conditions,
            )
        except _errors() as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return None
            raise StateError(describe_aws_error(exc, self.url(key), "write")) from None
        return str(answer["ETag"])

    def delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            self.call(
                "delete in", self.prefix, self.client.delete_objects, Delete={"Objects": chunk}
            )

    # ---- the Store protocol ----------------------------------------------------------------------

    def base(self, workspace: str) -> str:
        if workspace == DEFAULT_WORKSPACE:
            return self.prefix
        return f"{self.prefix}workspaces/{workspace}/"

    def backend(self, stack: str, workspace: str = DEFAULT_WORKSPACE) -> S3Backend:
        return S3Backend(self, stack, workspace)

    def stack_names(self, workspace: str = DEFAULT_WORKSPACE) -> list[str]:
        base = self.base(workspace)
        return sorted(
            key[len(base) : -len(".json")] for key in self.keys(base, "/") if key.endswith(".json")
        )

    def workspaces(self, stack: str) -> list[str]:
        root = f"{self.prefix}workspaces/"
        found = {
            key[len(root) :].split("/", 1)[0]
            for key in self.keys(root)
            if key.endswith(f"/{stack}.json") and key.count("/", len(root)) == 1
        }
        return [DEFAULT_WORKSPACE, *sorted(found - {DEFAULT_WORKSPACE})]

    def describe(self) -> str:
        return self.url(self.prefix)

    def close(self) -> None:
        pass


class S3Records:
    """Lock records as S3 objects, written conditionally."""

    def __init__(self, store: S3Store) -> None:
        self.store = store

    def create(self, name: str, doc: dict[str, Any]) -> str | None:
        return self.store.put(name, json.dumps(doc).encode(), IfNoneMatch="*")

    def replace(self, name: str, doc: dict[str, Any], token: str) -> str | None:
        return self.store.put(name, json.dumps(doc).encode(), IfMatch=token)

    def get(self, name: str) -> tuple[dict[str, Any], str] | None:
        found = self.store.get(name, 64 * 1024)
        if found is None:
            return None
        try:
            doc = json.loads(found[0])
        except ValueError:
            doc = {}
        return (doc if isinstance(doc, dict) else {}), found[1]

    def delete(self, name: str) -> None:
        self.store.call("delete", name, self.store.client.delete_object, Key=name)

    def names(self, prefix: str) -> list[str]:
        return self.store.keys(prefix)


class DynamoRecords:
    """Lock records as items of a DynamoDB table keyed by `LockID` (Terraform's layout)."""

    def __init__(self, store: S3Store, table: str) -> None:
        self.store = store
        self.table = table

    def _call(self, doing: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(TableName=self.table, **kwargs)
        except _errors() as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return None
            raise StateError(
                describe_aws_error(exc, f"DynamoDB table {self.table}", doing)
            ) from None

    def _put(self, name: str, doc: dict[str, Any], condition: str, values: Any) -> str | None:
        token = uuid.uuid4().hex
        item = {
            "LockID": {"S": f"{self.store.bucket}/{name}"},
            "Info": {"S": json.dumps(doc)},
            "Token": {"S": token},
        }
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
        if values:
            kwargs["ExpressionAttributeValues"] = values
            kwargs["ExpressionAttributeNames"] = {"#t": "Token"}
        answer = self._call("write the lock in", self.store.dynamo.put_item, **kwargs)
        return None if answer is None else token

    def create(self, name: str, doc: dict[str, Any]) -> str | None:
        return self._put(name, doc, "attribute_not_exists(LockID)", None)

    def replace(self, name: str, doc: dict[str, Any], token: str) -> str | None:
        return self._put(name, doc, "#t = :t", {":t": {"S": token}}) if token else None

    def get(self, name: str) -> tuple[dict[str, Any], str] | None:
        answer = self._call(
            "read the lock in",
            self.store.dynamo.get_item,
            Key={"LockID": {"S": f"{self.store.bucket}/{name}"}},
            ConsistentRead=True,
        )
        item = (answer or {}).get("Item")
        if not item:
            return None
        try:
            doc = json.loads(item["Info"]["S"])
        except (KeyError, ValueError):
            doc = {}
        return (doc if isinstance(doc, dict) else {}), item.get("Token", {}).get("S", "")

    def delete(self, name: str) -> None:
        self._call(
            "remove the lock from",
            self.store.dynamo.delete_item,
            Key={"LockID": {"S": f"{self.store.bucket}/{name}"}},
        )

    def names(self, prefix: str) -> list[str]:
        full = f"{self.store.bucket}/{prefix}"
        kwargs: dict[str, Any] = {
            "FilterExpression": "begins_with(LockID, :p)",
            "ExpressionAttributeValues": {":p": {"S": full}},
            "ConsistentRead": True,
        }
        out: list[str] = []
        while True:
            page = self._call("read the locks in", self.store.dynamo.scan, **kwargs) or {}
            out += [i["LockID"]["S"][len(self.store.bucket) + 1 :] for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class S3Journal(RecordJournal):
    """One object per batch of records, named in order: `<state key>.journal/<seq>`."""

    def __init__(self, store: S3Store, prefix: str) -> None:
        super().__init__(store.url(prefix))
        self.store = store
        self.prefix = prefix
        self._next: int | None = None

    def _names(self) -> list[str]:
        return sorted(self.store.keys(self.prefix))

    def _send(self, records: list[dict[str, Any]]) -> None:
        if self._next is None:
            names = self._names()
            self._next = int(names[-1].rsplit("/", 1)[1]) + 1 if names else 0
        data = "\n".join(json.dumps(r, separators=(",", ":")) for r in records).encode()
        key = f"{self.prefix}{self._next:012d}"
        if self.store.put(key, data, IfNoneMatch="*") is None:
            raise StateError(
                f"journal {self.where}: record {key} was written by another run; the lock "
                "was not held. Run nubes plan."
            )
        self._next += 1

    def _load(self) -> list[Any]:
        records: list[Any] = []
        for key in self._names():
            found = self.store.get(key, 64 * 2**20)
            if found is None:
                continue
            for line in found[0].splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    records.append(None)
        return records

    def _drop(self) -> None:
        self.store.delete_keys(self._names())
        self._next = None


class S3Backend:
    def __init__(self, store: S3Store, stack: str, workspace: str) -> None:
        self.store = store
        self.stack = stack
        self.workspace = workspace
        self.key = f"{store.base(workspace)}{stack}.json"
        self.lock_name = f"{self.key[: -len('.json')]}.lock"
        self.history_prefix = f"{store.prefix}history/{workspace}/{stack}/"
        self.files_prefix = f"{store.prefix}history/files/{stack}/"
        self.journal = S3Journal(store, f"{self.key[: -len('.json')]}.journal/")
        self.records: Records = (
            DynamoRecords(store, store.lock_table) if store.lock_table else S3Records(store)
        )
        self._seen: tuple[str, tuple[str, int]] | None = None  # (etag, (lineage, serial))
        self._pending: tuple[str, int] | None = None
        self._held: LeaseLock | None = None

    def describe(self) -> str:
        return self.store.url(self.key)

    def read(self) -> State | None:
        found = self.store.get(self.key)
        if found is None:
            self._seen = None
            return None
        raw, etag = found
        hint = " Restore an earlier version of the object (the bucket keeps them)."
        state = decode_state(raw, self.describe(), self.stack, hint)
        self._seen = (etag, (state.lineage, state.serial))
        return state

    def write(self, state: State) -> None:
        self.commit(self.stage(state))

    def _current(self) -> tuple[str, int] | None:
        if self._pending is not None:
            return self._pending
        if self._seen is None:
            self.read()
        return self._seen[1] if self._seen else None

    def stage(self, state: State) -> bytes:
        data = next_version(state, self._current(), self.describe())
        self._pending = (state.lineage, state.serial)
        return data

    def commit(self, data: bytes) -> None:
        if self._held is not None:
            self._held.check()
        version = version_of(data)
        if self._seen is not None and not self.store.versioned():
            self.store.call(  # no versions to go back to: the previous state is copied aside
                "back up",
                self.key,
                self.store.client.copy_object,
                Key=f"{self.key}.backup",
                CopySource={"Bucket": self.store.bucket, "Key": self.key},
            )
        conditions = {"IfMatch": self._seen[0]} if self._seen else {"IfNoneMatch": "*"}
        etag = self.store.put(self.key, data, **conditions)
        if etag is None:
            self._pending = None
            raise StateError(
                f"{self.describe()} changed while this run held it (another run wrote it without "
                "the lock); nothing was overwritten. Run nubes plan."
            )
        self._pending = None
        if version is not None:
            self._seen = (etag, version)

    def lock(self, operation: str, timeout: float = 0.0, shared: bool = False) -> LeaseLock:
        lock = LeaseLock(
            self.records, self.lock_name, self.store.url(self.lock_name), self.store.lease
        )
        lock.acquire(operation, timeout, shared)
        if not shared:
            self._held = lock
            self._seen = None  # read again under the lock: another run may have written
            release = lock.release

            def released() -> None:
                self._held = None
                release()

            lock.release = released  # type: ignore[method-assign]
        return lock

    def force_unlock(self, lock_id: str) -> LockInfo:
        where = self.store.url(self.lock_name)
        return force_unlock(self.records, self.lock_name, where, lock_id, self.store.lease)

    def lock_holder(self) -> LockInfo | None:
        return holder(self.records, self.lock_name, self.store.lease)

    def sibling(self, stack: str) -> S3Backend:
        return S3Backend(self.store, stack, self.workspace)

    def stack_names(self) -> list[str]:
        return self.store.stack_names(self.workspace)

    def record_apply(
        self,
        state: State,
        text: str,
        digest: str,
        file: str,
        who: str,
        summary: str,
        applied_at: str | None = None,
    ) -> None:
        kept = f"{self.files_prefix}{digest.removeprefix('sha256:')}.yaml"
        self.store.put(kept, text.encode(), IfNoneMatch="*")  # once per content
        entry = {
            "serial": state.serial,
            "applied_at": applied_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "digest": digest,
            "file": file,
            "who": who,
            "summary": summary,
        }
        name = f"{self.history_prefix}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        self.store.put(name, json.dumps(entry).encode())

    def history(self) -> list[HistoryEntry]:
        out = []
        for key in sorted(self.store.keys(self.history_prefix)):
            found = self.store.get(key, 2**20)
            if found is None:
                continue
            try:
                e = json.loads(found[0])
                digest = str(e["digest"])
                kept = f"{self.files_prefix}{digest.removeprefix('sha256:')}.yaml"
                out.append(
                    HistoryEntry(
                        int(e["serial"]),
                        str(e["applied_at"]),
                        digest,
                        str(e["file"]),
                        str(e["who"]),
                        str(e["summary"]),
                        self.store.url(kept),
                        functools.partial(self._kept_text, kept),
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def _kept_text(self, key: str) -> str:
        found = self.store.get(key)
        if found is None:
            raise StateError(f"{self.store.url(key)} is missing: that stack file was not kept")
        return found[0].decode("utf-8", "replace")

    def delete(self) -> None:
        self.journal.clear()
        doomed = [self.key, f"{self.key}.backup", *self.store.keys(self.history_prefix)]
        self.store.delete_keys(doomed)
        self._seen = None
