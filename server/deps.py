"""The typed dependencies route handlers declare: what a request resolved to (its API base URL,
format and provider's driver) and its parameters. FastAPI fills them in; a handler names what it
needs in its signature instead of digging it out of the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from nubes.server.calls import AsyncDriver, Calls
from nubes.server.config import ServerConfig
from nubes.server.http import api_base, api_root
from nubes.server.paging import Page, page_of
from nubes.server.respond import provider_driver, request_format, request_params

Base = Annotated[str, Depends(api_base)]
Root = Annotated[str, Depends(api_root)]  # for what belongs to no cloud
Format = Annotated[str, Depends(request_format)]
ProviderDriver = Annotated[AsyncDriver, Depends(provider_driver)]
Params = Annotated[dict[str, str], Depends(request_params)]
Paging = Annotated[Page | None, Depends(page_of)]


def _config(request: Request) -> ServerConfig:
    config: ServerConfig = request.app.state.config
    return config


def _calls(request: Request) -> Calls:
    calls: Calls = request.app.state.calls
    return calls


def _provider(request: Request) -> str:
    return str(request.scope["state"]["provider"])


Config = Annotated[ServerConfig, Depends(_config)]
Pools = Annotated[Calls, Depends(_calls)]
ProviderName = Annotated[str, Depends(_provider)]
