"""Dependencies shared by the routers: settings, sessions, the pipeline, authentication, rate limits."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.orm import Session

from oracle.auth import RateLimiter, authenticate
from oracle.db import session_factory
from oracle.errors import AuthError
from oracle.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def db_session(settings: SettingsDep) -> Iterator[Session]:
    session = session_factory(settings.database_url)()
    try:
        yield session
        session.commit()
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(db_session)]


def rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.write_limiter


def writer(session: SessionDep, limiter: Annotated[RateLimiter, Depends(rate_limiter)],
           x_api_key: Annotated[str | None, Header(description="API key (writes only)")] = None) -> str:
    """The caller of a write endpoint: a valid API key, within its rate limit."""
    try:
        name = authenticate(session, x_api_key)
    except AuthError as error:
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "ApiKey"}) from None
    wait = limiter.hit(name)
    if wait:
        raise HTTPException(429, f"rate limit exceeded; retry in {wait:.0f}s",
                            headers={"Retry-After": str(max(1, round(wait)))})
    return name


Writer = Annotated[str, Depends(writer)]
