"""Identity: where the credentials come from, Keystone v3 and v2.0 tokens, and the service
catalog a token carries.

Credentials are read as OpenStack's own tools read them: a clouds.yaml entry when the provider
block (or `OS_CLOUD`) names one, else the nubes credentials file's entry for the provider, else
the `OS_*` variables (Rackspace: also `RACKSPACE_USERNAME` and `RACKSPACE_API_KEY`). A token is
renewed before it expires and once more after a 401 (`Keystone.renew`, the kit's auth hook).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from nubes.providers.errors import AuthError, InvalidRequestError, ProviderError
from nubes.providers.kit.http import HttpTransport, Retries
from nubes.providers.openstack.errors import fault
from nubes.providers.openstack.settings import Settings

RENEW_BEFORE = 120.0  # seconds before a token's expiry that it is replaced
CLOUDS_FILES = (
    Path("clouds.yaml"),
    Path.home() / ".config" / "openstack" / "clouds.yaml",
    Path("/etc/openstack/clouds.yaml"),
)
RACKSPACE_AUTH_URL = "https://identity.api.rackspacecloud.com/v2.0"
DEFAULT_RETRIES = Retries()


@dataclass(frozen=True)
class Credentials:
    auth_url: str
    username: str | None = None
    password: str | None = None
    api_key: str | None = None  # Rackspace's RAX-KSKEY:apiKeyCredentials
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    application_credential_id: str | None = None
    application_credential_secret: str | None = None
    region: str | None = None
    identity_version: str = "3"


def _clouds_yaml(name: str, environ: Mapping[str, str]) -> dict[str, Any]:
    files = [Path(environ["OS_CLIENT_CONFIG_FILE"])] if environ.get("OS_CLIENT_CONFIG_FILE") else []
    for path in [*files, *CLOUDS_FILES]:
        try:
            doc = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InvalidRequestError(f"{path}: cannot read it: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            # never str(exc): it quotes the offending line, which may hold a password
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise InvalidRequestError(f"{path}{where}: {problem}") from None
        entry = ((doc or {}).get("clouds") or {}).get(name)
        if isinstance(entry, dict):
            return entry
    raise InvalidRequestError(
        f"no cloud named {name!r} in clouds.yaml (looked in "
        f"{', '.join(str(p) for p in [*files, *CLOUDS_FILES])})"
    )


def gather(
    settings: Settings, driver: str, environ: Mapping[str, str], stored: Mapping[str, str]
) -> Credentials:
    """The credentials for this provider, from the first source that has any."""
    source: dict[str, Any]
    cloud = settings.cloud or (environ.get("OS_CLOUD") if not stored else None)
    if cloud:
        entry = _clouds_yaml(cloud, environ)
        source = {**(entry.get("auth") or {})}
        source.setdefault("region_name", entry.get("region_name"))
        if entry.get("identity_api_version"):
            source["identity_version"] = str(entry["identity_api_version"])
    elif stored:
        source = dict(stored)
    else:
        env = {k[3:].lower(): v for k, v in environ.items() if k.startswith("OS_")}
        if driver == "rackspace":
            env.setdefault("username", environ.get("RACKSPACE_USERNAME", ""))
            env.setdefault("api_key", environ.get("RACKSPACE_API_KEY", ""))
        source = {k: v for k, v in env.items() if v}
    auth_url = settings.auth_url or source.get("auth_url")
    if driver == "rackspace":
        auth_url = auth_url or RACKSPACE_AUTH_URL
    if not auth_url:
        raise AuthError(
            f"{driver}: no auth URL: set auth_url in the provider block, OS_AUTH_URL, or a "
            "clouds.yaml entry named by cloud:"
        )
    version = settings.identity_version or str(
        source.get("identity_version") or source.get("identity_api_version") or ""
    )
    if not version:
        version = "2.0" if driver == "rackspace" or "/v2.0" in auth_url else "3"
    found = Credentials(
        auth_url=str(auth_url).rstrip("/"),
        username=source.get("username"),
        password=source.get("password"),
        api_key=source.get("api_key"),
        project_name=settings.project_name
        or source.get("project_name")
        or source.get("tenant_name"),
        project_id=source.get("project_id") or source.get("tenant_id"),
        user_domain_name=str(source.get("user_domain_name") or "Default"),
        project_domain_name=str(source.get("project_domain_name") or "Default"),
        user_domain_id=source.get("user_domain_id"),
        project_domain_id=source.get("project_domain_id"),
        application_credential_id=source.get("application_credential_id"),
        application_credential_secret=source.get("application_credential_secret"),
        region=settings.region or source.get("region_name"),
        identity_version="2.0" if version.startswith("2") else "3",
    )
    if not (found.username and (found.password or found.api_key)) and not (
        found.application_credential_id and found.application_credential_secret
    ):
        raise AuthError(
            f"{driver}: no credentials: set OS_USERNAME and OS_PASSWORD (or "
            "OS_APPLICATION_CREDENTIAL_ID and _SECRET), name a clouds.yaml entry with cloud:, "
            "or add them to the nubes credentials file"
        )
    return found


@dataclass(frozen=True)
class Endpoint:
    type: str
    name: str
    region: str | None
    interface: str
    url: str


@dataclass
class Token:
    id: str
    expires: float
    project_id: str | None
    catalog: list[Endpoint] = field(default_factory=list)


def _expiry(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time() + 3600


def token_v3(doc: Mapping[str, Any], token_id: str) -> Token:
    """A token from a v3 answer (`{"token": ...}` with the id from X-Subject-Token)."""
    body = doc["token"]
    catalog = [
        Endpoint(
            s.get("type", ""),
            s.get("name", ""),
            e.get("region_id") or e.get("region"),
            e.get("interface", "public"),
            e["url"],
        )
        for s in body.get("catalog") or []
        for e in s.get("endpoints") or []
        if e.get("url")
    ]
    project = (body.get("project") or {}).get("id")
    return Token(token_id, _expiry(body.get("expires_at")), project, catalog)


def token_v2(doc: Mapping[str, Any]) -> Token:
    """A token from a v2.0 answer (`{"access": ...}`), one endpoint per interface URL."""
    access = doc["access"]
    catalog = []
    for service in access.get("serviceCatalog") or []:
        for e in service.get("endpoints") or []:
            for interface in ("public", "internal", "admin"):
                url = e.get(f"{interface}URL")
                if url:
                    catalog.append(
                        Endpoint(
                            service.get("type", ""),
                            service.get("name", ""),
                            e.get("region"),
                            interface,
                            url,
                        )
                    )
    token = access["token"]
    project = (token.get("tenant") or {}).get("id")
    return Token(token["id"], _expiry(token.get("expires")), project, catalog)


class Keystone:
    """Gets, keeps and renews a token; the kit's auth hook for every service's transport."""

    def __init__(
        self,
        credentials: Callable[[], Credentials],
        client: httpx.Client,
        retries: Retries = DEFAULT_RETRIES,
    ) -> None:
        # gathered at first use, not when the driver is configured: `nubes validate` needs no
        # credentials, and a missing one is told when a cloud is first asked
        self._gather = credentials
        self._credentials: Credentials | None = None
        self._client = client
        self._retries = retries
        self._http: HttpTransport | None = None
        self._token: Token | None = None
        self._lock = threading.Lock()

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = self._gather()
        return self._credentials

    @property
    def http(self) -> HttpTransport:
        if self._http is None:
            self._http = HttpTransport(
                self.credentials.auth_url, errors=fault, retries=self._retries, client=self._client
            )
        return self._http

    @property
    def calls(self) -> int:
        return self._http.calls if self._http is not None else 0

    @property
    def token(self) -> Token:
        with self._lock:
            if self._token is None or self._token.expires - time.time() < RENEW_BEFORE:
                self._token = self._authenticate()
            return self._token

    def sign(self, request: httpx.Request) -> None:
        request.headers["X-Auth-Token"] = self.token.id

    def renew(self) -> bool:
        with self._lock:
            self._token = self._authenticate()
        return True

    def _authenticate(self) -> Token:
        c = self.credentials
        base = c.auth_url
        try:
            if c.identity_version == "2.0":
                path = "/tokens" if base.endswith("/v2.0") else "/v2.0/tokens"
                answer = self.http.json("POST", path, json=self._body_v2(), safe_to_repeat=True)
                return token_v2(answer)
            path = "/auth/tokens" if base.endswith("/v3") else "/v3/auth/tokens"
            response = self.http.request("POST", path, json=self._body_v3(), safe_to_repeat=True)
            return token_v3(response.json(), response.headers.get("x-subject-token", ""))
        except AuthError as exc:
            raise AuthError(
                f"Keystone at {base} refused the credentials: {exc}", exc.code
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(
                f"Keystone at {base} answered something that is not a token "
                f"({type(exc).__name__}: {exc})",
                "UnparsableResponse",
            ) from None

    def _body_v3(self) -> dict[str, Any]:
        c = self.credentials
        if c.application_credential_id:
            identity: dict[str, Any] = {
                "methods": ["application_credential"],
                "application_credential": {
                    "id": c.application_credential_id,
                    "secret": c.application_credential_secret,
                },
            }
            return {"auth": {"identity": identity}}
        identity = {
            "methods": ["password"],
            "password": {
                "user": {
                    "name": c.username,
                    "password": c.password or c.api_key,
                    "domain": _domain(c.user_domain_id, c.user_domain_name),
                }
            },
        }
        auth: dict[str, Any] = {"identity": identity}
        if c.project_id:
            auth["scope"] = {"project": {"id": c.project_id}}
        elif c.project_name:
            auth["scope"] = {
                "project": {
                    "name": c.project_name,
                    "domain": _domain(c.project_domain_id, c.project_domain_name),
                }
            }
        return {"auth": auth}

    def _body_v2(self) -> dict[str, Any]:
        c = self.credentials
        auth: dict[str, Any]
        if c.api_key:
            auth = {"RAX-KSKEY:apiKeyCredentials": {"username": c.username, "apiKey": c.api_key}}
        else:
            auth = {"passwordCredentials": {"username": c.username, "password": c.password}}
        if c.project_id:
            auth["tenantId"] = c.project_id
        elif c.project_name:
            auth["tenantName"] = c.project_name
        return {"auth": auth}


def _domain(id: str | None, name: str) -> dict[str, str]:
    return {"id": id} if id else {"name": name}


def choose_endpoint(
    catalog: list[Endpoint],
    types: tuple[str, ...],
    names: tuple[str, ...],
    region: str | None,
    interface: str,
) -> str | None:
    """The URL of the first of `types` in `region` on `interface`, preferring `names` (the
    services a cloud names its own way: Rackspace's cloudServersOpenStack)."""
    for type in types:
        found = [
            e
            for e in catalog
            if e.type == type
            and e.interface == interface
            and (region is None or (e.region or "").upper() == region.upper())
        ]
        if not found:
            continue
        preferred = [e for e in found if e.name in names]
        return (preferred or found)[0].url
    return None


def regions(catalog: list[Endpoint]) -> list[str]:
    return sorted({e.region for e in catalog if e.region})
