"""Loading a stack file into a `Stack`, with diagnostics that point at the user's lines."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nubes.engine.addrs import NAME_RE
from nubes.engine.diag import Diagnostic, Diagnostics, SourceRange, error
from nubes.engine.files import InputFileError, read_inside, read_regular, resolve_inside
from nubes.engine.lang import BUILTIN_NAMES, FUNCTION_NAMES, ParseError, parse_string
from nubes.engine.stack.model import (
    CURRENT_FORMAT,
    Catalog,
    Lifecycle,
    Output,
    Provider,
    Resource,
    Stack,
    StackOutputs,
    Variable,
)
from nubes.engine.stack.schema import (
    META_ARGUMENTS,
    CatalogSpec,
    OutputSpec,
    ResourceSpec,
    StackSpec,
)
from nubes.engine.stack.yamlpos import Cap, Positions, load_yaml
from nubes.engine.state.settings import parse_backend, workspace_problem
from nubes.providers.catalog import DEFAULT_IMAGES

MAX_STACK_BYTES = 16 * 1024 * 1024
MAX_CATALOG_BYTES = 4 * 1024 * 1024
MAX_RESOURCES = 100_000  # resources in one stack (each may have up to 100,000 instances)
RESERVED_NAMES = frozenset(
    {"var", "each", "count", "self", "local", "module", "data", "stack_outputs"}
)
DEFAULT_PROVIDER = "sim"

# Older stack formats stay readable forever: each function lifts a document one version up.
UPGRADES: dict[int, Any] = {}


def digest_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def load_stack(path: str | Path) -> tuple[Stack | None, Diagnostics]:
    """Read and check a stack file."""
    file = Path(path)
    diags = Diagnostics()
    if not file.exists() and not file.is_symlink():
        diags.error(f"no stack file at {file}")
        return None, diags
    try:
        text = read_regular(file, MAX_STACK_BYTES, "stack file")
    except InputFileError as exc:
        diags.error(str(exc))
        return None, diags
    return parse_stack(text, file)


def parse_stack(text: str, file: Path) -> tuple[Stack | None, Diagnostics]:
    return _parse_stack(text, file)


RESOURCE_CAP = Cap(
    MAX_RESOURCES,
    f"the stack declares more than {MAX_RESOURCES:,} resources, the most a stack may hold",
    "split it into several stacks",
)


def _parse_stack(text: str, file: Path) -> tuple[Stack | None, Diagnostics]:
    diags = Diagnostics()
    value, pos, yaml_diags = load_yaml(text, str(file), {"resources": RESOURCE_CAP})
    diags.extend(yaml_diags)
    if diags.has_errors:
        return None, diags
    if not isinstance(value, dict):
        diags.error(
            "a stack file must be a mapping with keys nubes, name, resources, ...", where=pos.at(())
        )
        return None, diags
    fmt = value.get("nubes")
    if "nubes" not in value:
        diags.error(
            "missing required key 'nubes' (the stack format version, e.g. nubes: 1)",
            where=SourceRange(str(file), 1, 1),
        )
        return None, diags
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        diags.error("'nubes' must be a format version number such as 1", where=pos.at(("nubes",)))
        return None, diags
    if fmt > CURRENT_FORMAT:
        diags.error(
            f"stack format {fmt} is newer than this nubes understands (up to {CURRENT_FORMAT})",
            "upgrade nubes to read this stack",
            where=pos.at(("nubes",)),
        )
        return None, diags
    while fmt < CURRENT_FORMAT:
        value = UPGRADES[fmt](value)
        fmt += 1
    try:
        spec = StackSpec.model_validate(value)
    except ValidationError as exc:
        diags.extend(_schema_diagnostics(exc, pos))
        return None, diags
    resources = _resources(spec, pos, diags)
    if diags.has_errors:
        return None, diags
    stack = _build(spec, resources, value, text, file, pos, diags)
    return (None if diags.has_errors else stack), diags


def _resources(spec: StackSpec, pos: Positions, diags: Diagnostics) -> dict[str, Resource]:
    """Each resource checked and made on its own: at 100,000 resources, holding every model at
    once would cost about 200 MB. A resource that leaves `provider` out has it empty here."""
    out: dict[str, Resource] = {}
    for name, raw in spec.resources.items():
        try:
            r = ResourceSpec.model_validate(raw)
        except ValidationError as exc:
            diags.extend(_schema_diagnostics(exc, pos, ("resources", name)))
            continue
        ignore = r.lifecycle.ignore_changes
        out[name] = Resource(
            name=name,
            type=r.type,
            provider=r.provider or "",
            count=r.count,
            for_each=r.for_each,
            depends_on=tuple(r.depends_on),
            lifecycle=Lifecycle(
                r.lifecycle.create_before_destroy,
                r.lifecycle.prevent_destroy,
                ignore if isinstance(ignore, str) else tuple(ignore),
            ),
            attributes={k: v for k, v in raw.items() if k not in META_ARGUMENTS},
            lookup=r.lookup,
            timeouts={"create": r.timeouts.create, "delete": r.timeouts.delete},
        )
    return out


def _schema_diagnostics(
    exc: ValidationError, pos: Positions, under: tuple[str, ...] = ()
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors():
        loc = under + tuple(p for p in err["loc"] if not _is_union_tag(p))
        if loc in seen:
            continue  # pydantic reports each failed union branch; one message a place
        seen.add(loc)
        kind = err["type"]
        field = loc[-1] if loc else ""
        place = _describe(loc[:-1])
        if kind == "extra_forbidden":
            out.append(error(f"unknown key {field!r}{place}", where=pos.key_at(loc)))
        elif kind == "missing":
            out.append(error(f"missing required key {field!r}{place}", where=pos.at(loc[:-1])))
        else:
            out.append(error(f"{_describe(loc, lead='')}: {err['msg'].lower()}", where=pos.at(loc)))
    return out


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (
        part in ("int", "str", "bool", "float", "list[any]", "dict[str,any]", "literal['all']")
        or part.startswith(("list[", "dict[", "literal["))
    )


def _describe(loc: tuple[Any, ...], lead: str = " in ") -> str:
    if not loc:
        return "" if lead else "stack"
    return lead + ".".join(str(p) for p in loc)


def _build(
    spec: StackSpec,
    made: dict[str, Resource],
    raw: dict[str, Any],
    text: str,
    file: Path,
    pos: Positions,
    diags: Diagnostics,
) -> Stack:
    if not NAME_RE.match(spec.name):
        diags.error(
            f"stack name {spec.name!r} must start with a letter and hold only letters, digits, "
            "_ and -",
            where=pos.at(("name",)),
        )
    for section in ("variables", "providers", "resources", "outputs"):
        for name in raw.get(section) or {}:
            if not NAME_RE.match(name):
                diags.error(
                    f"{name!r} is not a valid name in {section}", where=pos.key_at((section, name))
                )
    variables = {
        name: Variable(
            name, v.type, v.default, "default" in v.model_fields_set, v.description, v.sensitive
        )
        for name, v in spec.variables.items()
    }
    providers = {
        name: Provider(name, p.driver, {k: v for k, v in (p.model_extra or {}).items()})
        for name, p in spec.providers.items()
    }
    if not providers:
        providers[DEFAULT_PROVIDER] = Provider(DEFAULT_PROVIDER, "sim", {})
    resources: dict[str, Resource] = {}
    inherited = _follow_providers(made, raw) if len(providers) > 1 else {}
    for name, r in made.items():
        path = ("resources", name)
        if name in RESERVED_NAMES or name in FUNCTION_NAMES or name in BUILTIN_NAMES:
            diags.error(
                f"{name!r} is a reserved name and cannot name a resource", where=pos.key_at(path)
            )
        provider = r.provider or inherited.get(name)
        if provider is None:
            if len(providers) == 1:
                provider = next(iter(providers))
            else:
                diags.error(
                    f"resource {name!r} must say which provider it uses",
                    f"this stack declares several: {', '.join(providers)}; a resource that "
                    "attaches to an instance (or that instances use) may leave it out and follow",
                    where=pos.key_at(path),
                )
                provider = ""
        elif provider not in providers:
            diags.error(
                f"resource {name!r} uses provider {provider!r}, which is not declared",
                f"declared providers: {', '.join(providers) or 'none'}",
                where=pos.at((*path, "provider")),
            )
        if r.count is not None and r.for_each is not None:
            diags.error(
                f"resource {name!r} sets both count and for_each; choose one",
                where=pos.at((*path, "for_each")),
            )
        for i, dep in enumerate(r.depends_on):
            if dep not in made:
                diags.error(
                    f"depends_on names {dep!r}, which is not a resource in this stack",
                    where=pos.at((*path, "depends_on", i)),
                )
        resources[name] = r if provider == r.provider else replace(r, provider=provider)
    outputs: dict[str, Output] = {}
    for name, value in spec.outputs.items():
        path = ("outputs", name)
        if (
            isinstance(value, dict)
            and "value" in value
            and set(value) <= set(OutputSpec.model_fields)
        ):
            try:
                o = OutputSpec.model_validate(value)
            except ValidationError as exc:
                for err in exc.errors():
                    diags.error(
                        f"output {name}: {err['msg'].lower()}", where=pos.at((*path, *err["loc"]))
                    )
                continue
            outputs[name] = Output(name, o.value, o.description, o.sensitive, (*path, "value"))
        else:
            outputs[name] = Output(name, value, "", False, path)
    return Stack(
        name=spec.name,
        file=file,
        text=text,
        digest=digest_text(text),
        format=spec.nubes,
        variables=variables,
        providers=providers,
        resources=resources,
        outputs=outputs,
        positions=pos,
        catalog=_catalog(spec.catalog, file, pos, diags),
        backend=(
            parse_backend(raw["backend"], pos.at, pos.key_at, diags)
            if raw.get("backend") is not None
            else None
        ),
        stack_outputs=_stack_outputs(spec, pos, diags),
    )


def _stack_outputs(spec: StackSpec, pos: Positions, diags: Diagnostics) -> dict[str, StackOutputs]:
    found: dict[str, StackOutputs] = {}
    for name, entry in spec.stack_outputs.items():
        path = ("stack_outputs", name)
        if not NAME_RE.match(name):
            diags.error(
                f"stack_outputs name {name!r} is not a valid name",
                where=pos.key_at(path),
            )
            continue
        if entry.workspace is not None and "${" not in entry.workspace:
            problem = workspace_problem(entry.workspace)
            if problem:
                diags.error(problem, where=pos.at((*path, "workspace")))
                continue
        backend = None
        if entry.backend is not None:
            backend = parse_backend(entry.backend, pos.at, pos.key_at, diags, (*path, "backend"))
            if backend is None:
                continue
        found[name] = StackOutputs(name, entry.stack, entry.workspace, backend, path)
    return found


def _catalog(spec: CatalogSpec, file: Path, pos: Positions, diags: Diagnostics) -> Catalog:
    catalog = Catalog(
        images={k: dict(v) for k, v in DEFAULT_IMAGES.items()},
        realms={},
    )
    layers: list[CatalogSpec] = []
    if spec.file is not None:
        where = pos.at(("catalog", "file"))
        try:
            target = resolve_inside(file.parent, spec.file, "catalog file")
        except InputFileError as exc:
            diags.error(str(exc), where=where)
        else:
            try:
                text: str | None = read_inside(
                    file.parent, spec.file, MAX_CATALOG_BYTES, "catalog file"
                )
            except InputFileError as exc:
                diags.error(str(exc), where=where)
                text = None
            if text is not None:
                value, fpos, errors = load_yaml(text, str(target))
                diags.extend(errors)
                if not errors:
                    try:
                        layers.append(CatalogSpec.model_validate(value or {}))
                    except ValidationError as exc:
                        diags.extend(_schema_diagnostics(exc, fpos))
    layers.append(spec)
    for layer in layers:
        for name, entries in layer.images.items():
            catalog.images.setdefault(name, {}).update(entries)
        for name, zones in layer.realms.items():
            catalog.realms.setdefault(name, {}).update(zones)
    return catalog


ATTACH_ATTRIBUTES = ("instance", "volume")  # what an address, volume, snapshot, image attaches to
USED_BY_ATTRIBUTES = ("firewalls", "key")  # what an instance uses


def _roots(value: Any, names: set[str]) -> set[str]:
    """The resources an attribute's expressions refer to."""
    if isinstance(value, list):
        return set().union(*(_roots(v, names) for v in value)) if value else set()
    if not isinstance(value, str) or "${" not in value:
        return set()
    try:
        return {ref.root for ref in parse_string(value).refs if ref.root in names}
    except ParseError:
        return set()  # reported where the expression is checked


def _follow_providers(made: dict[str, Resource], raw: dict[str, Any]) -> dict[str, str]:
    """Providers of resources that leave `provider` out in a stack with several: an address,
    volume, snapshot or image goes where what it attaches to goes; a firewall or key goes where
    the instances that use it go, if they agree. So moving an instance moves what hangs on it."""
    names = set(made)
    known = {n: r.provider for n, r in made.items() if r.provider}
    attaches = {
        n: set().union(*(_roots(raw["resources"][n].get(a), names) for a in ATTACH_ATTRIBUTES))
        for n in names
    }
    users: dict[str, set[str]] = {n: set() for n in names}
    for n in names:
        for attr in USED_BY_ATTRIBUTES:
            for used in _roots(raw["resources"][n].get(attr), names):
                users[used].add(n)
    changed = True
    while changed:
        changed = False
        for n in sorted(names - set(known)):
            basis = attaches[n] or users[n]
            if basis and basis <= set(known) and len({known[b] for b in basis}) == 1:
                known[n] = known[next(iter(basis))]
                changed = True
    return {n: p for n, p in known.items() if not made[n].provider and p}
