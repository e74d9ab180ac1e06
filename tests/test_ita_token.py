"""ITA token verification against the local ITA server: keys, chain, CRLs, algorithm, times."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tdxquote._quote import Quote
from tdxquote.errors import ItaTokenError, VerificationError
from tdxquote.ita import (
    DEFAULT_LEEWAY,
    AsyncItaClient,
    ItaClient,
    ItaConfig,
    ItaKeyCache,
    ItaVerifiedQuote,
    jwks_url,
    spki_sha256,
    verify_quote,
    verify_quote_async,
)
from tdxquote.testing.forge import QuoteForge, td_report
from tdxquote.testing.ita import ItaServer, TokenOptions, rsa_key
from tdxquote.verification import Policy, PolicyError

NOW_SKEW = timedelta(seconds=5)


@pytest.fixture(scope="module")
def quote() -> Quote:
    return QuoteForge.create(seed=b"ita token tests").quote(td_report(report_data=b"ita"))


@pytest.fixture
def server() -> Iterator[ItaServer]:
    with ItaServer() as running:
        yield running


def now_of(server: ItaServer) -> datetime:
    return server.now + NOW_SKEW


def appraise(
    server: ItaServer, quote: Quote, *, cache: ItaKeyCache | None = None, **config: object
) -> ItaVerifiedQuote:
    with ItaClient(server.config(**config), cache=cache) as client:
        return client.appraise(quote, now=now_of(server))


def refusal(server: ItaServer, quote: Quote, **config: object) -> ItaTokenError:
    with pytest.raises(ItaTokenError) as caught:
        appraise(server, quote, **config)
    return caught.value


# --- the good path --------------------------------------------------------------------------


def test_a_v2_token_gives_the_quotes_verdict(server: ItaServer, quote: Quote) -> None:
    verified = appraise(server, quote)
    assert verified.quote is quote
    assert str(verified.status) == "UpToDate"
    assert verified.token.layout == "v2"
    assert verified.token.kid == server.kid
    assert verified.token.alg == "PS384"
    assert verified.claims.value("tdx_mrtd") == quote.body.mr_td
    assert verified.token.key.root_spki_sha256 == server.pki.root_spki_sha256
    # One attest, the key set, and both CRLs (leaf's, then the signing CA's).
    assert [(r.role, r.method, r.path) for r in server.requests] == [
        ("api", "POST", "/appraisal/v2/attest"),
        ("portal", "GET", "/certs"),
        ("portal", "GET", "/crl/signing-ca.crl"),
        ("portal", "GET", "/crl/root.crl"),
    ]


def test_a_v1_token_with_top_level_claims_is_read(server: ItaServer, quote: Quote) -> None:
    server.token_options = TokenOptions(layout="v1")
    verified = appraise(server, quote)
    assert verified.token.layout == "v1"
    assert "tdx" not in verified.token.claims
    assert verified.claims.value("tdx_rtmr3") == quote.body.rtmr3


def test_rs256_is_accepted_by_default(server: ItaServer, quote: Quote) -> None:
    verified = appraise(server, quote, token_signing_alg="RS256")
    assert verified.token.alg == "RS256"


def test_the_nonce_round_trips(server: ItaServer, quote: Quote) -> None:
    with ItaClient(server.config()) as client:
        nonce = client.nonce()
        verified = client.appraise(quote, now=now_of(server), verifier_nonce=nonce)
    assert verified.token.claims["verifier_nonce"] == nonce.to_json()


def test_keys_and_crls_are_cached_between_verifications(server: ItaServer, quote: Quote) -> None:
    cache = ItaKeyCache.memory()
    appraise(server, quote, cache=cache)
    appraise(server, quote, cache=cache)
    assert server.count("/certs") == 1
    assert server.count("/crl/") == 2
    assert server.count("/appraisal/") == 2


def test_a_disk_cache_serves_another_client(
    server: ItaServer, quote: Quote, tmp_path: Path
) -> None:
    appraise(server, quote, cache=ItaKeyCache(tmp_path))
    appraise(server, quote, cache=ItaKeyCache(tmp_path))
    assert server.count("/certs") == 1


# --- times ------------------------------------------------------------------------------------


def test_expiry_is_exp_plus_the_leeway(server: ItaServer, quote: Quote) -> None:
    token = server.issue_token(quote)
    exp = server.now + timedelta(seconds=300)
    with ItaClient(server.config()) as client:
        client.verify_token(token, now=exp + timedelta(seconds=DEFAULT_LEEWAY - 1))
        with pytest.raises(ItaTokenError) as caught:
            client.verify_token(token, now=exp + timedelta(seconds=DEFAULT_LEEWAY))
    assert caught.value.code == "ita_token_expired"


def test_an_expired_token_is_refused_without_leeway(server: ItaServer, quote: Quote) -> None:
    token = server.issue_token(quote)
    with ItaClient(server.config(leeway=0)) as client, pytest.raises(ItaTokenError) as caught:
        client.verify_token(token, now=server.now + timedelta(seconds=300))
    assert caught.value.code == "ita_token_expired"


def test_a_token_issued_in_the_future_is_not_yet_valid(server: ItaServer, quote: Quote) -> None:
    server.token_options = TokenOptions(issued_at=server.now + timedelta(seconds=120))
    assert refusal(server, quote).code == "ita_token_not_yet_valid"


def test_a_future_nbf_is_not_yet_valid(server: ItaServer, quote: Quote) -> None:
    server.token_options = TokenOptions(not_before=server.now + timedelta(seconds=90))
    assert refusal(server, quote).code == "ita_token_not_yet_valid"


def test_exp_and_iat_are_required(server: ItaServer, quote: Quote) -> None:
    for claim in ("exp", "iat"):
        server.token_options = TokenOptions(top_claims={claim: None})
        error = refusal(server, quote)
        assert error.code == "ita_token_malformed"
        assert claim in error.message


def test_a_wrong_issuer_is_refused(server: ItaServer, quote: Quote) -> None:
    server.token_options = TokenOptions(issuer="Someone Else")
    assert refusal(server, quote).code == "ita_token_issuer"
    assert appraise(server, quote, issuer=None).status  # an explicit None skips the check


# --- keys -------------------------------------------------------------------------------------


def test_an_unknown_kid_refetches_the_key_set_once(server: ItaServer, quote: Quote) -> None:
    cache = ItaKeyCache.memory()
    appraise(server, quote, cache=cache)
    server.token_options = TokenOptions(kid="no-such-key")
    with pytest.raises(ItaTokenError) as caught:
        appraise(server, quote, cache=cache)
    assert caught.value.code == "ita_token_key_unknown"
    assert server.count("/certs") == 2


def test_key_rotation_costs_one_refetch(server: ItaServer, quote: Quote) -> None:
    cache = ItaKeyCache.memory()
    first = appraise(server, quote, cache=cache)
    new_kid = server.rotate_key()
    second = appraise(server, quote, cache=cache)
    third = appraise(server, quote, cache=cache)
    assert first.token.kid != new_kid
    assert second.token.kid == third.token.kid == new_kid
    assert server.count("/certs") == 2


def test_the_jku_header_is_never_followed(quote: Quote) -> None:
    with ItaServer() as server, ItaServer(root_label="ita-elsewhere") as elsewhere:
        server.token_options = TokenOptions(jku=f"{elsewhere.portal_url}/certs")
        verified = appraise(server, quote)
        assert verified.token.jku == f"{elsewhere.portal_url}/certs"
        # A token signed elsewhere, whose jku names that server's keys: refused.
        foreign = elsewhere.issue_token(quote)
        with ItaClient(server.config()) as client, pytest.raises(ItaTokenError) as caught:
            client.verify_token(foreign, now=now_of(server))
        assert caught.value.code == "ita_token_signature_invalid"
        assert elsewhere.requests == []


def test_a_tampered_cached_key_set_is_reverified_and_replaced(
    server: ItaServer, quote: Quote, tmp_path: Path
) -> None:
    # Someone with write access to the cache puts another issuer's keys under the portal's
    # URL, with this server's kid: the chain or the signature fails, so the portal is asked.
    with ItaServer(root_label="ita-forger") as forger:
        forger.rotate_key(keep_old=False, kid=server.kid)
        cache = ItaKeyCache(tmp_path)
        cache.store("jwks", jwks_url(server.portal_url), json.dumps(forger.jwks()).encode())
    verified = appraise(server, quote, cache=ItaKeyCache(tmp_path))
    assert verified.token.key.root_spki_sha256 == server.pki.root_spki_sha256
    assert server.count("/certs") == 1


def test_a_cached_entry_under_another_url_is_ignored(tmp_path: Path) -> None:
    cache = ItaKeyCache(tmp_path)
    cache.store("jwks", "https://a.example/certs", b'{"keys": []}')
    # Copy the row to another key: the entry names its URL, so it is not served there.
    store = cache._store
    store.set(
        cache.key("jwks", "https://b.example/certs"),
        store.get(cache.key("jwks", "https://a.example/certs")),
    )  # type: ignore[arg-type]
    assert cache.load("jwks", "https://b.example/certs") is None
    assert cache.load("jwks", "https://a.example/certs") == b'{"keys": []}'


def test_a_hostile_cache_row_is_a_miss(tmp_path: Path) -> None:
    cache = ItaKeyCache(tmp_path)
    key = cache.key("crl", "https://a.example/x.crl")
    for row in (b"[" * 100_000, b"\xff\xfe", b'{"format": "tdxquote-ita-cache/1"}', b"null"):
        cache._store.set(key, row)
        assert cache.load("crl", "https://a.example/x.crl") is None


# --- the algorithm ----------------------------------------------------------------------------


def test_a_header_naming_another_rsa_algorithm_fails_the_signature(
    server: ItaServer, quote: Quote
) -> None:
    server.token_options = TokenOptions(sign_alg="PS384", header_alg="RS256")
    assert refusal(server, quote).code == "ita_token_signature_invalid"


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_hmac_and_none_are_refused(server: ItaServer, quote: Quote, alg: str) -> None:
    server.token_options = TokenOptions(sign_alg=alg)
    assert refusal(server, quote).code == "ita_token_algorithm"
    assert server.count("/certs") == 0  # refused before any key is fetched


def test_the_keys_alg_binds_the_header(server: ItaServer, quote: Quote) -> None:
    server.jwk_alg = "PS384"
    assert appraise(server, quote).token.alg == "PS384"
    error = refusal(server, quote, token_signing_alg="RS256")
    assert error.code == "ita_token_algorithm"
    assert "allows" in error.message


def test_the_allow_list_narrows_the_algorithms(server: ItaServer, quote: Quote) -> None:
    error = refusal(server, quote, algorithms=("PS384",), token_signing_alg="RS256")
    assert error.code == "ita_token_algorithm"


def test_allow_lists_never_admit_none_or_hmac() -> None:
    for bad in (("none",), ("HS256",), ("PS384", "HS512"), ()):
        with pytest.raises(ValueError, match="algorithm"):
            ItaConfig(algorithms=bad)


# --- the chain and its CRLs -------------------------------------------------------------------


def test_a_pinned_root_is_required(server: ItaServer, quote: Quote) -> None:
    assert appraise(server, quote, root_spki_sha256=(server.pki.root_spki_sha256.hex(),))
    with ItaServer(root_label="ita-other-root") as other:
        other_pin = other.pki.root_spki_sha256
    error = refusal(server, quote, root_spki_sha256=(other_pin,))
    assert error.code == "ita_chain_untrusted"
    assert server.pki.root_spki_sha256.hex() in error.message


def test_spki_sha256_is_the_pin_the_server_publishes(server: ItaServer) -> None:
    assert spki_sha256(server.pki.root) == server.pki.root_spki_sha256


def test_a_revoked_leaf_is_refused(server: ItaServer, quote: Quote) -> None:
    server.revoke_leaf()
    assert refusal(server, quote).code == "ita_certificate_revoked"


def test_a_revoked_signing_ca_is_refused(server: ItaServer, quote: Quote) -> None:
    server.revoke_signing_ca()
    assert refusal(server, quote).code == "ita_certificate_revoked"


def test_a_stale_crl_is_refused(server: ItaServer, quote: Quote) -> None:
    server.crl_this_update = server.now - timedelta(days=40)
    server.crl_next_update = server.now - timedelta(days=10)
    assert refusal(server, quote).code == "ita_crl_invalid"


def test_a_crl_signed_by_another_key_is_refused(server: ItaServer, quote: Quote) -> None:
    server.crl_signer = rsa_key("not-the-ca")
    assert refusal(server, quote).code == "ita_crl_invalid"


def test_a_stale_cached_crl_is_fetched_again(server: ItaServer, quote: Quote) -> None:
    cache = ItaKeyCache.memory()
    server.crl_next_update = server.now + timedelta(days=1)
    appraise(server, quote, cache=cache)
    server.now += timedelta(days=2)
    server.crl_next_update = None
    appraise(server, quote, cache=cache)
    assert server.count("/crl/signing-ca.crl") == 2
    assert server.count("/certs") == 1


def test_an_incomplete_chain_is_refused(server: ItaServer, quote: Quote) -> None:
    server.x5c_transform = lambda chain: [chain[0], chain[2]]
    assert refusal(server, quote).code == "ita_chain_invalid"


def test_an_extra_certificate_in_x5c_is_refused(server: ItaServer, quote: Quote) -> None:
    with ItaServer(root_label="ita-stray") as stray:
        stray_root = stray.pki.root
    server.x5c_transform = lambda chain: [*chain, stray_root]
    assert refusal(server, quote).code == "ita_chain_invalid"


def test_the_x5c_order_does_not_matter(server: ItaServer, quote: Quote) -> None:
    server.x5c_transform = lambda chain: list(reversed(chain))
    assert (
        appraise(server, quote).token.key.chain[0].subject
        == server.pki.leaves[server.kid][1].subject
    )


def test_an_expired_signing_certificate_is_refused(server: ItaServer, quote: Quote) -> None:
    server.rotate_key(
        keep_old=False,
        not_before=server.now - timedelta(days=30),
        not_after=server.now - timedelta(days=1),
    )
    assert refusal(server, quote).code == "ita_chain_invalid"


def test_a_ca_certificate_may_not_sign_tokens(server: ItaServer, quote: Quote) -> None:
    server.rotate_key(keep_old=False, ca=True)
    assert refusal(server, quote).code == "ita_chain_invalid"


def test_the_jwk_must_be_the_x5c_leafs_key(server: ItaServer, quote: Quote) -> None:
    other_leaf = server.pki.leaves[server.rotate_key(keep_old=False)][1]
    server.rotate_key(keep_old=False)
    server.x5c_transform = lambda chain: [other_leaf, *chain[1:]]
    assert refusal(server, quote).code == "ita_jwks_invalid"


def test_a_jwks_without_x5c_is_refused(server: ItaServer, quote: Quote) -> None:
    server.x5c_transform = lambda chain: []
    assert refusal(server, quote).code == "ita_jwks_invalid"


# --- async -----------------------------------------------------------------------------------


def test_async_appraisal_and_rotation(server: ItaServer, quote: Quote) -> None:
    async def run() -> list[str]:
        kids = []
        async with AsyncItaClient(server.config()) as client:
            kids.append((await client.appraise(quote, now=now_of(server))).token.kid)
            server.rotate_key()
            kids.append((await client.appraise(quote, now=now_of(server))).token.kid)
        return kids

    first, second = asyncio.run(run())
    assert first != second
    assert server.count("/certs") == 2


def test_async_refusals_are_the_same(server: ItaServer, quote: Quote) -> None:
    server.token_options = TokenOptions(issued_at=server.now - timedelta(hours=1))

    async def run() -> None:
        async with AsyncItaClient(server.config()) as client:
            await client.appraise(quote, now=now_of(server))

    with pytest.raises(ItaTokenError) as caught:
        asyncio.run(run())
    assert caught.value.code == "ita_token_expired"
    assert isinstance(caught.value, VerificationError)


# --- the one-shot entry point (what the CLI calls) ----------------------------------------------


def test_verify_quote_is_the_one_shot_entry_point(server: ItaServer, quote: Quote) -> None:
    options = {
        "api_url": server.api_url,
        "portal_url": server.portal_url,
        "api_key": server.api_key,
        "root_spki_sha256": server.pki.root_spki_sha256.hex(),
        "now": now_of(server),
    }
    verified = verify_quote(
        quote.to_bytes(), policy=Policy().expect_mr_td(quote.body.mr_td), **options
    )
    assert verified.body == quote.body
    with pytest.raises(PolicyError) as caught:
        verify_quote(quote, policy=Policy().expect_mr_td("00" * 48), **options)
    assert caught.value.rule == "expect_mr_td"
    with pytest.raises(ValueError, match="SPKI pin"):
        verify_quote(quote, **{**options, "root_spki_sha256": "not-hex"})


def test_verify_quote_async(server: ItaServer, quote: Quote) -> None:
    verified = asyncio.run(
        verify_quote_async(
            quote,
            api_url=server.api_url,
            portal_url=server.portal_url,
            api_key=server.api_key,
            now=now_of(server),
        )
    )
    assert verified.token.kid == server.kid
