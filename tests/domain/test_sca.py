"""SCA (§5): one-time tokens, signed approval, the challenge framework, sessions and lockouts."""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mockwise._domain.errors import ValidationError
from mockwise._domain.model import Profile, User
from mockwise._domain.sca import (
    ChallengeType,
    ScaAction,
    ScaChallenge,
    ScaLocked,
    ScaRefused,
    obfuscate_phone,
)
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import TokenKind
from tests import sca_vectors
from tests.helpers import public_pem, sign_ott

STATEMENT = ScaAction.BALANCE__GET_STATEMENT
FUND = ScaAction.TRANSFER__FUND
PERSONAL = TokenKind.PERSONAL
UNKNOWN_OTT = "5b1a0a52-0000-4000-8000-000000000000"


@pytest.fixture
def alex(tenant: Tenant, creds: Credentials) -> User:
    tenant.clock.freeze()
    user = tenant.user(creds.users[0]["email"])
    tenant.sca.require(user, True)
    return user


@pytest.fixture
def business(tenant: Tenant, alex: User) -> Profile:
    return next(p for p in tenant.directory.profiles_of(alex) if p.type.value == "business")


@pytest.fixture
def private_key(tenant: Tenant, alex: User) -> str:
    return tenant.sca.generate_key(alex)


def challenge(
    tenant: Tenant,
    user: User,
    profile: Profile,
    action: ScaAction = FUND,
    *,
    kind: TokenKind = PERSONAL,
    ott: str | None = None,
    sig: str | None = None,
) -> ScaChallenge:
    """Expect the guard to answer with a 403 challenge, and return it."""
    with pytest.raises(ScaChallenge) as raised:
        tenant.sca.authorize(user, profile, action, kind, ott, sig)
    return raised.value


def test_not_challenged_unless_switched_on(tenant: Tenant, creds: Credentials) -> None:
    user = tenant.user(creds.users[0]["email"])
    profile = tenant.directory.profiles_of(user)[1]
    assert tenant.sca.authorize(user, profile, FUND, PERSONAL, None, None).how == "not_required"
    tenant.settings = tenant.settings.apply({"sca.personal_tokens": True})
    challenge(tenant, user, profile)
    assert tenant.sca.authorize(user, profile, FUND, TokenKind.USER, None, None).how == "not_required"
    tenant.sca.require(user, False)  # a user's switch beats the tenant's
    assert tenant.sca.authorize(user, profile, FUND, PERSONAL, None, None).how == "not_required"


def test_a_signed_one_time_token_is_approved_once(
    tenant: Tenant, alex: User, business: Profile, private_key: str
) -> None:
    first = challenge(tenant, alex, business)
    assert first.status == 403 and first.reason == "missing"
    assert first.headers == {"x-2fa-approval-result": "REJECTED", "x-2fa-approval": first.value}
    assert first.body("/p", 0.0)["message"] == "You are forbidden to send this request"  # type: ignore[index]
    signature = sign_ott(private_key, first.value)
    approval = tenant.sca.authorize(alex, business, FUND, PERSONAL, first.value, signature)
    assert approval.how == "signature" and approval.stamped and approval.ott == first.token.id
    again = challenge(tenant, alex, business, ott=first.value, sig=signature)  # single use [C] §5.2
    assert again.reason == "reused" and again.value != first.value


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda v, k: (v, "bm90IGEgc2lnbmF0dXJl"), "bad_signature"),
        (lambda v, k: (v, "%%% not base64"), "bad_signature"),
        (lambda v, k: (UNKNOWN_OTT, sign_ott(k, UNKNOWN_OTT)), "unknown"),
        (lambda v, k: (v, sign_ott(k, v.upper())), "bad_signature"),  # not the token exactly as received
    ],
)  # fmt: skip
def test_bad_retries_get_a_fresh_challenge(
    tenant: Tenant, alex: User, business: Profile, private_key: str, setup: object, reason: str
) -> None:
    first = challenge(tenant, alex, business)
    ott, sig = setup(first.value, private_key)  # type: ignore[operator]
    again = challenge(tenant, alex, business, ott=ott, sig=sig)
    assert again.reason == reason and again.value not in (first.value, ott)


def test_a_bad_signature_burns_the_token(
    tenant: Tenant, alex: User, business: Profile, private_key: str
) -> None:
    first = challenge(tenant, alex, business)
    challenge(tenant, alex, business, ott=first.value, sig="AAAA")
    assert (
        challenge(tenant, alex, business, ott=first.value, sig=sign_ott(private_key, first.value)).reason
        == "reused"
    )


def test_one_time_tokens_live_an_hour(
    tenant: Tenant, alex: User, business: Profile, private_key: str
) -> None:
    first = challenge(tenant, alex, business)
    assert first.token.expires_at - first.token.issued_at == 3600
    tenant.clock.advance(3599)
    second = challenge(tenant, alex, business)
    assert tenant.sca.authorize(
        alex, business, FUND, PERSONAL, second.value, sign_ott(private_key, second.value)
    )
    tenant.clock.advance(1)
    assert (
        challenge(tenant, alex, business, ott=first.value, sig=sign_ott(private_key, first.value)).reason
        == "expired"
    )


def test_a_token_approves_only_what_it_was_issued_for(
    tenant: Tenant, alex: User, business: Profile, private_key: str
) -> None:
    first = challenge(tenant, alex, business)
    sig = sign_ott(private_key, first.value)
    assert challenge(tenant, alex, business, STATEMENT, ott=first.value, sig=sig).reason == "other_request"
    personal = tenant.directory.profiles_of(alex)[0]
    tenant.settings = tenant.settings.apply({"sca.signing_accounts": "any"})
    assert challenge(tenant, alex, personal, ott=first.value, sig=sig).reason == "other_request"
    assert tenant.sca.authorize(alex, business, FUND, PERSONAL, first.value, sig).how == "signature"


def test_personal_accounts_cannot_sign_since_2024(tenant: Tenant, alex: User, private_key: str) -> None:
    personal = tenant.directory.profiles_of(alex)[0]
    first = challenge(tenant, alex, personal)  # challenged like anyone...
    with pytest.raises(ScaRefused) as refused:  # ...but a valid signature does not help [C] §5.1
        tenant.sca.authorize(alex, personal, FUND, PERSONAL, first.value, sign_ott(private_key, first.value))
    assert refused.value.status == 403 and "x-2fa-approval" not in refused.value.headers
    assert (
        refused.value.headers["x-2fa-approval-result"] == "REJECTED" and "business" in refused.value.message
    )
    tenant.settings = tenant.settings.apply({"sca.signing_accounts": "business_user"})  # alex owns a business
    second = challenge(tenant, alex, personal)
    assert tenant.sca.authorize(
        alex, personal, FUND, PERSONAL, second.value, sign_ott(private_key, second.value)
    )


def test_no_uploaded_key_means_a_fresh_challenge(tenant: Tenant, alex: User, business: Profile) -> None:
    first = challenge(tenant, alex, business)
    stranger = (
        rsa.generate_private_key(65537, 2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    assert (
        challenge(tenant, alex, business, ott=first.value, sig=sign_ott(stranger, first.value)).reason
        == "no_keys"
    )


def test_the_pywisetransfer_test_vector(tenant: Tenant, alex: User, business: Profile) -> None:
    tenant.sca.add_key(alex, sca_vectors.PUBLIC_KEY)
    value, _ = tenant.sca.issue(alex, business.id, STATEMENT, value=sca_vectors.ONE_TIME_TOKEN)
    approval = tenant.sca.authorize(alex, business, STATEMENT, PERSONAL, value, sca_vectors.SIGNATURE)
    assert approval.how == "signature"


def test_sca_keys_rules(tenant: Tenant, alex: User) -> None:
    with pytest.raises(ValueError, match="RSA"):
        tenant.sca.add_key(alex, public_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ValueError, match="2048"):
        tenant.sca.add_key(alex, public_pem(rsa.generate_private_key(65537, 1024)))  # noqa: S505 - weak on purpose
    with pytest.raises(ValueError, match="PEM"):
        tenant.sca.add_key(alex, "ssh-rsa AAAA...")
    keys = [tenant.sca.add_key(alex, public_pem(rsa.generate_private_key(65537, 2048))) for _ in range(5)]
    with pytest.raises(ValueError, match="at most 5"):
        tenant.sca.add_key(alex, public_pem(rsa.generate_private_key(65537, 2048)))
    with pytest.raises(ValueError, match="already"):
        tenant.sca.add_key(alex, keys[0].pem)
    tenant.sca.remove_key(alex, keys[0].fingerprint)
    assert len(tenant.sca.keys(alex)) == 4
    with pytest.raises(LookupError):
        tenant.sca.remove_key(alex, keys[0].fingerprint)


def test_a_session_covers_low_risk_actions_for_five_minutes(
    tenant: Tenant, alex: User, business: Profile, private_key: str
) -> None:
    tenant.settings = tenant.settings.apply({"sca.statement_exemption_days": 0})
    first = challenge(tenant, alex, business, STATEMENT)
    tenant.sca.authorize(alex, business, STATEMENT, PERSONAL, first.value, sign_ott(private_key, first.value))
    tenant.clock.advance(299)
    assert tenant.sca.authorize(alex, business, STATEMENT, PERSONAL, None, None).how == "session"
    challenge(tenant, alex, business, FUND)  # high risk: always asked [C] §5.3
    tenant.clock.advance(1)
    challenge(tenant, alex, business, STATEMENT)


def test_statements_need_sca_once_every_90_days(
    tenant: Tenant, alex: User, business: Profile, private_key: str
) -> None:
    first = challenge(tenant, alex, business, STATEMENT)
    tenant.sca.authorize(alex, business, STATEMENT, PERSONAL, first.value, sign_ott(private_key, first.value))
    tenant.clock.advance(89 * 86400)
    assert tenant.sca.authorize(alex, business, STATEMENT, PERSONAL, None, None).how == "exempt"
    tenant.clock.advance(86400)
    challenge(tenant, alex, business, STATEMENT)


# The one-time-token framework (§5.3) -----------------------------------------------------------------


def test_challenges_and_status_shape(tenant: Tenant, alex: User, business: Profile) -> None:
    low = challenge(tenant, alex, business, STATEMENT, kind=TokenKind.USER)
    assert low.token.properties(low.value) == {
        "oneTimeToken": low.value,
        "challenges": [
            {
                "primaryChallenge": {"type": "PIN", "viewData": {"attributes": {"userId": alex.id}}},
                "alternatives": [],
                "required": True,
                "passed": False,
            }
        ],
        "validity": 3600,
        "actionType": "BALANCE__GET_STATEMENT",
        "userId": alex.id,
    }
    high = challenge(tenant, alex, business, FUND)  # two factors of different types [C] §5.3
    kinds = [
        (c["primaryChallenge"]["type"], [a["type"] for a in c["alternatives"]])
        for c in high.token.properties(high.value)["challenges"]
    ]
    assert kinds == [("PIN", []), ("SMS", ["WHATSAPP", "VOICE"])]


def test_clearing_a_token_through_its_challenges(tenant: Tenant, alex: User, business: Profile) -> None:
    first = challenge(tenant, alex, business, FUND, kind=TokenKind.USER)
    value = first.value
    tenant.sca.verify(alex, value, ChallengeType.PIN, "1234")
    pending = challenge(tenant, alex, business, FUND, kind=TokenKind.USER, ott=value)
    assert pending.reason == "pending" and pending.value == value  # the same token, still to clear
    with pytest.raises(ValidationError, match="trigger it first"):
        tenant.sca.verify(alex, value, ChallengeType.WHATSAPP, "111111")
    assert tenant.sca.trigger(alex, value, ChallengeType.WHATSAPP) == "********0143"
    token = tenant.sca.verify(alex, value, ChallengeType.WHATSAPP, "111111")
    assert token.cleared and token.properties(value, pending_only=True)["challenges"] == []
    approval = tenant.sca.authorize(alex, business, FUND, TokenKind.USER, value, None)
    assert approval.how == "challenges" and approval.stamped
    with pytest.raises(ValidationError, match="used already"):
        tenant.sca.verify(alex, value, ChallengeType.PIN, "1234")


def test_five_failures_lock_the_user_out_for_fifteen_minutes(
    tenant: Tenant, alex: User, business: Profile
) -> None:
    value = challenge(tenant, alex, business, FUND).value
    for _ in range(4):
        with pytest.raises(ValidationError, match="incorrect"):
            tenant.sca.verify(alex, value, ChallengeType.PIN, "0000")
    tenant.sca.verify(alex, value, ChallengeType.PIN, "1234")  # a success resets the count
    tenant.sca.trigger(alex, value, ChallengeType.SMS)
    for _ in range(5):
        with pytest.raises(ValidationError, match="incorrect"):
            tenant.sca.verify(alex, value, ChallengeType.SMS, "123456")
    with pytest.raises(ValidationError, match="Too many failed attempts") as blocked:
        tenant.sca.verify(alex, value, ChallengeType.SMS, "111111")
    assert blocked.value.code == "BLOCKED"
    with pytest.raises(ScaLocked) as locked:  # no new one-time tokens [C] §5.3
        tenant.sca.authorize(alex, business, FUND, PERSONAL, None, None)
    assert locked.value.status == 429 and locked.value.retry_after == 900
    tenant.settings = tenant.settings.apply({"sca.lockout_status": 403})
    with pytest.raises(ScaRefused):
        tenant.sca.authorize(alex, business, FUND, PERSONAL, None, None)
    tenant.clock.advance(900)
    assert tenant.sca.locked_until(alex) is None
    tenant.sca.verify(alex, value, ChallengeType.SMS, "111111")


def test_framework_lookups_are_per_user(
    tenant: Tenant, alex: User, business: Profile, creds: Credentials
) -> None:
    value = challenge(tenant, alex, business).value
    lena = tenant.user(creds.users[1]["email"])
    with pytest.raises(LookupError, match="not found"):
        tenant.sca.find(lena, value)
    with pytest.raises(LookupError, match="not found"):
        tenant.sca.find(alex, "0c0c0c0c-0000-4000-8000-000000000000")
    tenant.clock.advance(3600)
    with pytest.raises(LookupError, match="expired"):
        tenant.sca.find(alex, value)
    sam = tenant.user(creds.users[2]["email"])  # created over API: no phone number
    tenant.sca.require(sam, True)
    sam_value, _ = tenant.sca.issue(sam, 1, FUND)
    with pytest.raises(ValidationError, match="no phone"):
        tenant.sca.trigger(sam, sam_value, ChallengeType.SMS)
    with pytest.raises(ValidationError, match="no open FACE_MAP"):
        tenant.sca.verify(sam, sam_value, ChallengeType.FACE_MAP, "x")


def test_challenges_follow_the_settings(tenant: Tenant, alex: User, business: Profile) -> None:
    tenant.settings = tenant.settings.apply(
        {"sca.low_risk_challenges": "voice", "sca.pin": "9876", "sca.challenge_body": "empty"}
    )
    first = challenge(tenant, alex, business, STATEMENT)
    assert [c.primary for c in first.token.challenges] == [ChallengeType.VOICE]
    assert first.body("/p", 0.0) is None
    tenant.settings = tenant.settings.apply({"sca.low_risk_challenges": "nonsense"})
    second = challenge(tenant, alex, business, STATEMENT)
    assert [c.primary for c in second.token.challenges] == [ChallengeType.PIN]
    tenant.sca.verify(alex, second.value, ChallengeType.PIN, "9876")


def test_reset_keeps_seeded_keys_and_switches_and_forgets_the_rest(
    tenant: Tenant, alex: User, business: Profile, private_key: str
) -> None:
    tenant.mark_seeded()
    first = challenge(tenant, alex, business)
    extra = tenant.sca.generate_key(alex)
    tenant.sca.require(alex, False)
    tenant.reset()
    assert len(tenant.sca.keys(alex)) == 1 and tenant.sca.required_for(alex, PERSONAL)
    assert extra and challenge(tenant, alex, business, ott=first.value).reason == "unknown"


def test_phone_numbers_are_obfuscated() -> None:
    assert obfuscate_phone("+4915112345678") == "**********5678"
    assert obfuscate_phone("12") == "12"


def test_settings_document_every_sca_setting() -> None:
    docs = Settings.docs()
    for name in Settings().as_dict():
        if name.startswith(("sca.", "jose.", "rate_limits.")):
            assert len(docs.get(name, "")) > 40, name


def test_racing_retries_approve_a_token_once(
    tenant: Tenant, alex: User, business: Profile, private_key: str
) -> None:
    first = challenge(tenant, alex, business)
    signature = sign_ott(private_key, first.value)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def retry() -> None:
        barrier.wait()
        try:
            outcomes.append(tenant.sca.authorize(alex, business, FUND, PERSONAL, first.value, signature).how)
        except ScaChallenge as again:
            outcomes.append(again.reason)

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["reused"] * 7 + ["signature"]
