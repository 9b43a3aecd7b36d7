"""Webhooks without a stack: the Standard Webhooks signature, which addresses a
webhook may reach, the retry schedule, and the messages' translations."""
import pytest

from gateway import problems
from gateway.webhooks import messages, signing
from gateway.webhooks.delivery import retry_delay
from gateway.webhooks.targets import TargetPolicy, TargetRefused, check, parse, public_address
from services.common.errors import _fields, registered


def test_the_signature_matches_the_standard_webhooks_reference():
    # The example of the Standard Webhooks reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signing.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = signing.headers([secret, signing.new_secret()], "msg_p5jXN8AQM9LWM0D4loKWxJek",
                              1614265330, body)
    assert signing.verify(secret, headers, body, now=1614265330 + 10)
    assert not signing.verify(secret, headers, body + b" ", now=1614265330)
    assert not signing.verify(secret, headers, body, now=1614265330 + 301)  # replayed late
    assert not signing.verify(signing.new_secret(), headers, body, now=1614265330)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
                                     "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1",
                                     "fc00::1", "::ffff:10.0.0.1", "224.0.0.1", "240.0.0.1"])
def test_private_and_special_addresses_are_not_public(address):
    assert not public_address(address)


def test_public_addresses_are():
    assert public_address("93.184.216.34") and public_address("2606:2800:220:1::1")


def test_loopback_names_are_refused_unless_allowed():
    strict = TargetPolicy()
    with pytest.raises(TargetRefused) as refused:
        check("https://localhost/hooks", strict)
    assert refused.value.message.code == "webhook_target_private"
    assert check("https://localhost:9/hooks", TargetPolicy(allow_private=True)).port == 9
    with pytest.raises(TargetRefused) as plain:
        parse("http://example.com/", strict)
    assert plain.value.message.code == "webhook_url_not_https"
    for url in ("https://user:pw@example.com/", "https:///nohost", "javascript:alert(1)",
                "https://exa mple.com/", "https://example.com:99999/"):
        with pytest.raises(TargetRefused):
            parse(url, strict)
    target = parse("https://example.com:8443/in?x=1", strict)
    assert (target.host, target.port, target.path) == ("example.com", 8443, "/in?x=1")


def test_retries_back_off_exponentially_with_jitter_up_to_the_cap():
    delays = [retry_delay(n, 5, 3600) for n in range(1, 15)]
    assert 2.5 <= delays[0] <= 5 and 20 <= delays[3] <= 40
    assert all(1800 <= d <= 3600 for d in delays[-3:])


@pytest.mark.parametrize("locale", [l for l in problems.LOCALES if l != problems.DEFAULT_LOCALE])
def test_the_webhooks_messages_are_translated(locale):
    assert messages.NOT_HTTPS  # registered by the import
    translations = problems.catalog(locale)
    missing = [f"{code}: {template}" for code, template in registered()
               if translations.pgettext(code, template) == template
               and template.strip("{}' :") and not template.startswith("'{")]
    assert missing == []
    for code, template in registered():
        text = translations.pgettext(code, template)
        assert sorted(set(_fields(text))) == sorted(set(_fields(template))), template


def test_the_documented_event_types_are_the_published_ones():
    from gateway.api.system import load_openapi
    from gateway.webhooks.subscriptions import ALL_EVENT_TYPES

    schemas = load_openapi()["components"]["schemas"]
    assert set(schemas["EventType"]["enum"]) == ALL_EVENT_TYPES
