"""The authentication gate: bearer headers, failed attempts limited per address, X-User-ID
agreement."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from tessera.gateway.auth import Authentication, agree, bearer_token
from tessera.gateway.errors import RateLimited, Unauthenticated, WrongTenant
from tessera.gateway.ratelimit import Limit, LocalRateLimiter, RefusalMemo
from tessera.gateway.settings import GatewaySettings
from tests.unit.gateway.ratelimit_contract import FakeClock

TENANT, OTHER = uuid.uuid4(), uuid.uuid4()
GOOD = "good-token"


class FakeAuthenticator:
    def __init__(self) -> None:
        self.checked: list[str] = []

    async def tenant_of(self, token: str) -> uuid.UUID:
        self.checked.append(token)
        if token != GOOD:
            raise Unauthenticated("unknown API token")
        return TENANT


def gate(clock: FakeClock, burst: int = 3) -> tuple[Authentication, FakeAuthenticator]:
    authenticator = FakeAuthenticator()
    limiter = RefusalMemo(LocalRateLimiter(clock=clock), clock=clock)
    return Authentication("token", authenticator, limiter, Limit("auth_failures", 1.0, burst)), (
        authenticator
    )


@pytest.mark.parametrize(
    ("header", "token"),
    [(None, None), ("", None), ("  ", None), ("Bearer abc", "abc"), ("bearer  abc ", "abc")],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "abc", "Token abc"])
def test_other_authorization_schemes_are_refused(header: str) -> None:
    with pytest.raises(Unauthenticated, match="Bearer <token>"):
        bearer_token(header)


async def test_a_valid_token_names_its_tenant() -> None:
    auth, _ = gate(FakeClock())
    assert await auth.authenticate("10.0.0.1", GOOD) == TENANT


async def test_failures_are_limited_per_address_and_a_locked_address_is_not_checked() -> None:
    clock = FakeClock()
    auth, authenticator = gate(clock, burst=3)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await auth.authenticate("10.0.0.1", "guess")
    with pytest.raises(RateLimited) as refused:
        await auth.authenticate("10.0.0.1", "guess")
    assert refused.value.verdict.limit.name == "auth_failures"
    assert refused.value.verdict.retry_after == pytest.approx(1.0)
    checked = len(authenticator.checked)
    # locked: even the right token is not looked at (a guesser learns nothing meanwhile)
    with pytest.raises(RateLimited):
        await auth.authenticate("10.0.0.1", GOOD)
    assert len(authenticator.checked) == checked
    assert await auth.authenticate("10.0.0.2", GOOD) == TENANT  # other addresses are not
    clock.advance(1.0)
    assert await auth.authenticate("10.0.0.1", GOOD) == TENANT


async def test_successes_and_missing_credentials_spend_nothing() -> None:
    auth, _ = gate(FakeClock(), burst=1)
    for _ in range(20):
        assert await auth.authenticate("10.0.0.1", GOOD) == TENANT
        with pytest.raises(Unauthenticated, match="needs a credential"):
            await auth.authenticate("10.0.0.1", None)
    with pytest.raises(Unauthenticated):
        await auth.authenticate("10.0.0.1", "guess")
    with pytest.raises(RateLimited):
        await auth.authenticate("10.0.0.1", "guess")


async def test_without_a_limiter_failures_are_only_refused() -> None:
    auth = Authentication("token", FakeAuthenticator(), None)
    for _ in range(50):
        with pytest.raises(Unauthenticated):
            await auth.authenticate("10.0.0.1", "guess")


def test_an_x_user_id_beside_the_credential_must_name_its_tenant() -> None:
    assert agree(TENANT, None) == TENANT
    assert agree(TENANT, TENANT) == TENANT
    with pytest.raises(WrongTenant):
        agree(TENANT, OTHER)


async def test_header_mode_has_nothing_to_check() -> None:
    auth = Authentication("header")
    assert not auth.verifies
    with pytest.raises(RuntimeError):
        await auth.authenticate("10.0.0.1", GOOD)


def test_jwt_mode_without_its_issuer_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="TESSERA_GATEWAY_JWT_JWKS_URL"):
        GatewaySettings(auth="jwt", jwt_issuer="https://login.test", jwt_audience="tessera")
