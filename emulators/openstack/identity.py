"""Keystone: version discovery, v3 tokens (password, application credential, token) and v2.0
tokens (password, Rackspace's API key), each with the region's service catalog."""

from __future__ import annotations

import secrets
from typing import Any

from nubes.emulators.openstack.calls import Answer, Call, ok, region_prefix
from nubes.emulators.openstack.exceptions import IdentityError, Unauthorized
from nubes.emulators.openstack.models import AppCredential, Cloud, Token, User, new_id, stamp

# (type, OpenStack's name, Rackspace's name, path under the origin; {p} is the project id)
SERVICES = [
    ("identity", "keystone", "cloudIdentity", "/identity"),
    ("compute", "nova", "cloudServersOpenStack", "/compute/v2.1/{p}"),
    ("image", "glance", "cloudImages", "/image"),
    ("volumev3", "cinderv3", "cloudBlockStorage", "/volume/v3/{p}"),
    ("block-storage", "cinder", None, "/volume/v3/{p}"),
    ("volumev2", "cinderv2", None, "/volume/v2/{p}"),
    ("network", "neutron", "cloudNetworks", "/network"),
    ("object-store", "swift", "cloudFiles", "/object-store/v1/AUTH_{p}"),
]


def _iso(when: float) -> str:
    return stamp(when)[:-1] + ".000000Z"


def versions(call: Call) -> Answer:
    """GET /identity: the versions this Keystone speaks (300 Multiple Choices)."""
    return ok({"versions": {"values": [_v3(call), _v2(call)]}}, 300)


def version_v3(call: Call) -> Answer:
    return ok({"version": _v3(call)})


def version_v2(call: Call) -> Answer:
    return ok({"version": _v2(call)})


def _v3(call: Call) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": call.base + "/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def _v2(call: Call) -> dict[str, Any]:
    return {
        "id": "v2.0",
        "status": "deprecated",
        "updated": "2016-08-04T00:00:00Z",
        "links": [{"rel": "self", "href": call.base + "/identity/v2.0/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}
        ],
    }


# ---- v3 ---------------------------------------------------------------------------------------


def create_token(call: Call) -> Answer:
    """POST /identity/v3/auth/tokens"""
    auth = call.json("auth")
    identity = auth.get("identity")
    if not isinstance(identity, dict) or not isinstance(identity.get("methods"), list):
        raise IdentityError(
            "Expecting to find identity in auth. The server could not comply with the request "
            "since it is either malformed or otherwise incorrect. The client is assumed to be "
            "in error."
        )
    cloud = call.cloud
    methods = [str(m) for m in identity["methods"]]
    user: User | None = None
    project: str | None = None
    scoped_by_credential = False
    if "password" in methods:
        user = _password_user(cloud, identity.get("password"))
    elif "application_credential" in methods:
        credential = _app_credential(cloud, identity.get("application_credential"))
        user, project, scoped_by_credential = credential.user, credential.project, True
    elif "token" in methods:
        old = cloud.valid(str((identity.get("token") or {}).get("id", "")))
        if old is None:
            raise Unauthorized("The request you have made requires authentication.")
        user, project = old.user, old.project
    else:
        raise Unauthorized(f"Attempted to authenticate with an unsupported method: {methods}")
    scope = auth.get("scope")
    if isinstance(scope, dict) and "project" in scope and not scoped_by_credential:
        project = _scope_project(cloud, scope["project"])
    elif isinstance(scope, dict) and scope and not scoped_by_credential:
        raise Unauthorized("Only project scopes are offered here.")
    if project is not None and (user.id, project) not in cloud.roles:
        raise Unauthorized(f"User {user.id} has no access to project {project}")
    token = cloud.issue(user, project, methods)
    return ok({"token": _token_v3(call, token)}, 201, **{"X-Subject-Token": token.id})


def validate_token(call: Call) -> Answer:
    """GET /identity/v3/auth/tokens: the token named by X-Subject-Token."""
    token = call.cloud.valid(call.headers.get("x-subject-token"))
    if token is None:
        raise IdentityError("Could not find token.", 404)
    return ok({"token": _token_v3(call, token)}, 200, **{"X-Subject-Token": token.id})


def revoke_token(call: Call) -> Answer:
    """DELETE /identity/v3/auth/tokens"""
    call.cloud.tokens.pop(call.headers.get("x-subject-token") or "", None)
    return ok(None, 204)


def list_projects_for_token(call: Call) -> Answer:
    """GET /identity/v3/auth/projects: the projects the bearer's user may scope to."""
    cloud = call.cloud
    assert call.token is not None
    projects = [_project(cloud, pid) for (uid, pid) in cloud.roles if uid == call.token.user.id]
    return ok({"projects": projects, "links": {"self": call.base + call.path}})


def create_application_credential(call: Call, user_id: str) -> Answer:
    """POST /identity/v3/users/{user_id}/application_credentials"""
    assert call.token is not None
    if user_id != call.token.user.id or call.token.project is None:
        raise IdentityError("You are not authorized to perform the requested action.", 403)
    body = call.json("application_credential")
    name = str(body.get("name") or "")
    if not name:
        raise IdentityError("Invalid input for field 'name': None is not of type 'string'")
    secret = str(body.get("secret") or secrets.token_urlsafe(32))
    credential = AppCredential(
        new_id().replace("-", ""), name, secret, call.token.user, call.token.project
    )
    call.cloud.app_credentials[credential.id] = credential
    doc = {
        "id": credential.id,
        "name": name,
        "secret": secret,
        "project_id": credential.project,
        "user_id": credential.user.id,
        "roles": [{"name": "member"}],
        "unrestricted": False,
        "expires_at": None,
    }
    return ok({"application_credential": doc}, 201)


def _password_user(cloud: Cloud, password: Any) -> User:
    spec = (password or {}).get("user") if isinstance(password, dict) else None
    if not isinstance(spec, dict) or "password" not in spec:
        raise IdentityError("Invalid input for field 'identity/password/user': missing password")
    user = _find_user(cloud, spec)
    if user is None or not secrets.compare_digest(str(spec["password"]), user.password):
        raise Unauthorized("The request you have made requires authentication.")
    return user


def _find_user(cloud: Cloud, spec: dict[str, Any]) -> User | None:
    if "id" in spec:
        return cloud.users.get(str(spec["id"]))
    domain = spec.get("domain") if isinstance(spec.get("domain"), dict) else None
    if domain is None:
        raise IdentityError(
            "Expecting to find domain in user. The server could not comply with the request "
            "since it is either malformed or otherwise incorrect. The client is assumed to be "
            "in error."
        )
    domain_id = cloud.domain_id(domain.get("id"), domain.get("name"))
    return next(
        (u for u in cloud.users.values() if u.name == spec.get("name") and u.domain == domain_id),
        None,
    )


def _app_credential(cloud: Cloud, spec: Any) -> AppCredential:
    if not isinstance(spec, dict) or "secret" not in spec:
        raise IdentityError("Invalid input for field 'application_credential': missing secret")
    found: AppCredential | None = None
    if "id" in spec:
        found = cloud.app_credentials.get(str(spec["id"]))
    else:
        user = _find_user(cloud, spec.get("user") or {})
        found = next(
            (
                c
                for c in cloud.app_credentials.values()
                if user is not None and c.user.id == user.id and c.name == spec.get("name")
            ),
            None,
        )
    if found is None or not secrets.compare_digest(str(spec["secret"]), found.secret):
        raise Unauthorized("The request you have made requires authentication.")
    return found


def _scope_project(cloud: Cloud, spec: Any) -> str:
    if not isinstance(spec, dict):
        raise IdentityError("Invalid input for field 'scope/project'")
    if "id" in spec:
        if str(spec["id"]) not in cloud.projects:
            raise Unauthorized(f"Could not find project: {spec['id']}.")
        return str(spec["id"])
    domain = spec.get("domain")
    domain = domain if isinstance(domain, dict) else {}
    domain_id = cloud.domain_id(domain.get("id"), domain.get("name"))
    found = cloud.project_named(str(spec.get("name")), domain_id)
    if found is None:
        raise Unauthorized(f"Could not find project: {spec.get('name')}.")
    return found


def _project(cloud: Cloud, project: str) -> dict[str, Any]:
    name, domain = cloud.projects[project]
    return {
        "id": project,
        "name": name,
        "domain_id": domain,
        "domain": {"id": domain, "name": cloud.domains[domain]},
        "enabled": True,
        "is_domain": False,
        "links": {},
    }


def _token_v3(call: Call, token: Token) -> dict[str, Any]:
    cloud = call.cloud
    user = token.user
    doc: dict[str, Any] = {
        "methods": token.methods,
        "user": {
            "id": user.id,
            "name": user.name,
            "domain": {"id": user.domain, "name": cloud.domains[user.domain]},
            "password_expires_at": None,
        },
        "audit_ids": [secrets.token_urlsafe(16)],
        "expires_at": _iso(token.expires),
        "issued_at": _iso(token.issued),
        "is_domain": False,
    }
    if token.project is not None:
        project = _project(cloud, token.project)
        doc["project"] = {k: project[k] for k in ("id", "name", "domain")}
        doc["roles"] = [
            {"id": name, "name": name} for name in cloud.roles[(user.id, token.project)]
        ]
        doc["catalog"] = catalog_v3(call, token.project)
    return doc


def _services(cloud: Cloud) -> list[tuple[str, str, str]]:
    rackspace = cloud.knobs.style == "rackspace"
    found = []
    for type, name, rax_name, path in SERVICES:
        if rackspace:
            if rax_name is None:
                continue
            type = "volume" if type == "volumev3" else type
            name = rax_name
        found.append((type, name, path))
    return found


def catalog_v3(call: Call, project: str) -> list[dict[str, Any]]:
    cloud = call.cloud
    entries = []
    for type, name, path in _services(cloud):
        endpoints = []
        for region in cloud.regions:
            prefix = "" if type == "identity" else region_prefix(cloud, region)
            url = call.base + prefix + path.format(p=project)
            for interface in ("public", "internal"):
                endpoints.append(
                    {
                        "id": new_id().replace("-", ""),
                        "interface": interface,
                        "region": region,
                        "region_id": region,
                        "url": url,
                    }
                )
        entries.append(
            {"id": new_id().replace("-", ""), "type": type, "name": name, "endpoints": endpoints}
        )
    return entries


# ---- v2.0 -------------------------------------------------------------------------------------


def create_token_v2(call: Call) -> Answer:
    """POST /identity/v2.0/tokens: password credentials, or Rackspace's API key."""
    auth = call.json("auth")
    cloud = call.cloud
    user: User | None
    if isinstance(auth.get("passwordCredentials"), dict):
        spec = auth["passwordCredentials"]
        user = _user_named(cloud, spec.get("username"))
        if user is None or not secrets.compare_digest(str(spec.get("password")), user.password):
            raise Unauthorized("The request you have made requires authentication.")
    elif isinstance(auth.get("RAX-KSKEY:apiKeyCredentials"), dict):
        spec = auth["RAX-KSKEY:apiKeyCredentials"]
        user = _user_named(cloud, spec.get("username"))
        if user is None or not secrets.compare_digest(str(spec.get("apiKey")), user.api_key):
            raise Unauthorized("Username or api key is invalid.")
    elif isinstance(auth.get("token"), dict):
        old = cloud.valid(str(auth["token"].get("id")))
        if old is None:
            raise Unauthorized("The request you have made requires authentication.")
        user = old.user
    else:
        raise IdentityError("Expecting to find credentials in auth.")
    project = None
    if "tenantId" in auth:
        project = str(auth["tenantId"]) if str(auth["tenantId"]) in cloud.projects else None
        if project is None:
            raise Unauthorized(f"Could not find project: {auth['tenantId']}.")
    elif "tenantName" in auth:
        project = cloud.project_named(str(auth["tenantName"]))
        if project is None:
            raise Unauthorized(f"Could not find project: {auth['tenantName']}.")
    elif cloud.knobs.style == "rackspace":
        # Rackspace scopes an API-key token to the user's one tenant
        project = next((pid for (uid, pid) in cloud.roles if uid == user.id), None)
    if project is not None and (user.id, project) not in cloud.roles:
        raise Unauthorized(f"User {user.id} is unauthorized for tenant {project}")
    token = cloud.issue(user, project, ["password"])
    return ok({"access": _access(call, token)})


def _user_named(cloud: Cloud, name: Any) -> User | None:
    return next((u for u in cloud.users.values() if u.name == name), None)


def _access(call: Call, token: Token) -> dict[str, Any]:
    cloud = call.cloud
    doc: dict[str, Any] = {
        "token": {
            "id": token.id,
            "issued_at": _iso(token.issued),
            "expires": stamp(token.expires),
            "audit_ids": [secrets.token_urlsafe(16)],
        },
        "user": {
            "id": token.user.id,
            "name": token.user.name,
            "username": token.user.name,
            "roles_links": [],
            "roles": [],
        },
        "metadata": {"is_admin": 0, "roles": []},
        "serviceCatalog": [],
    }
    if token.project is None:
        return doc
    name, _ = cloud.projects[token.project]
    doc["token"]["tenant"] = {
        "id": token.project,
        "name": name,
        "enabled": True,
        "description": None,
    }
    roles = cloud.roles[(token.user.id, token.project)]
    doc["user"]["roles"] = [{"name": r} for r in roles]
    doc["metadata"]["roles"] = roles
    for type, svc, path in _services(cloud):
        endpoints = []
        for region in cloud.regions:
            prefix = "" if type == "identity" else region_prefix(cloud, region)
            url = call.base + prefix + path.format(p=token.project)
            if type == "identity":
                url = call.base + "/identity/v2.0"
            endpoints.append(
                {
                    "id": new_id().replace("-", ""),
                    "region": region,
                    "tenantId": token.project,
                    "publicURL": url,
                    "internalURL": url,
                    "adminURL": url,
                }
            )
        doc["serviceCatalog"].append(
            {"type": type, "name": svc, "endpoints": endpoints, "endpoints_links": []}
        )
    return doc
