"""The official credentials library (alibabacloud-credentials) against the simulator's STS, and
the credentials it gets then used with the official EDAS SDKs against the simulator's EDAS.

The library is configured as users configure it (`alibabacloud_credentials.client.Client` with
type `oidc_role_arn` or `ram_role_arn`); its `sts_endpoint` is the simulator's URL: the library
writes the endpoint into the URL as given (a full http:// URL keeps its scheme), so nothing of
the library is patched.
"""

from urllib.parse import urlparse

import pytest

from conftest import AK, APP, FLAVOURS, SIM_URL, SK, admin, make_client, state_doc

PROVIDER = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-sdk"
ROLE = "acs:ram::1234567890123456:role/edas-sdk"


@pytest.fixture(autouse=True)
def sts_state():
    doc = state_doc()
    doc["sts"] = {
        "oidcProviders": [PROVIDER],
        "roles": [{"arn": ROLE, "oidcProviders": [PROVIDER], "principals": [AK],
                   "externalId": "sdk-external-id"}],
    }
    status, body = admin("POST", "/_sim/reset", doc)
    assert status == 200, body


def mint(ttl_seconds=600):
    status, body = admin("POST", "/_sim/oidc-tokens", {"provider": PROVIDER, "ttlSeconds": ttl_seconds})
    assert status == 200, body
    return body["token"]


def credential_client(**kw):
    from alibabacloud_credentials.client import Client
    from alibabacloud_credentials.models import Config

    return Client(Config(sts_endpoint=SIM_URL, role_session_name="sdk-test", **kw))


def works_with_every_edas_sdk(cred):
    c = cred.get_credential()
    assert c.access_key_id.startswith("STS."), c.access_key_id
    assert c.security_token
    for flavour in FLAVOURS:
        client = make_client(flavour, key=c.access_key_id, secret=c.access_key_secret,
                             token=c.security_token)
        body = client.call("QueryApplicationStatus", AppId=APP)
        assert body["Code"] == 200, (flavour, body)


def test_oidc_role_arn_credentials_work_with_the_edas_sdks(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(mint())
    cred = credential_client(type="oidc_role_arn", role_arn=ROLE, oidc_provider_arn=PROVIDER,
                             oidc_token_file_path=str(token_file))
    works_with_every_edas_sdk(cred)


def test_the_tea_edas_client_takes_the_credential_client_itself(tmp_path):
    from alibabacloud_edas20170801 import models
    from alibabacloud_edas20170801.client import Client
    from alibabacloud_tea_openapi import utils_models

    token_file = tmp_path / "token"
    token_file.write_text(mint())
    cred = credential_client(type="oidc_role_arn", role_arn=ROLE, oidc_provider_arn=PROVIDER,
                             oidc_token_file_path=str(token_file))
    for algorithm in [None, "v2"]:
        cfg = utils_models.Config(credential=cred, endpoint=urlparse(SIM_URL).netloc,
                                  protocol="http", region_id="cn-hangzhou")
        if algorithm:
            cfg.signature_algorithm = algorithm
        resp = Client(cfg).query_application_status(models.QueryApplicationStatusRequest(app_id=APP))
        assert resp.body.code == 200


def test_ram_role_arn_assumes_the_role_with_a_signed_call():
    cred = credential_client(type="ram_role_arn", access_key_id=AK, access_key_secret=SK,
                             role_arn=ROLE, external_id="sdk-external-id")
    works_with_every_edas_sdk(cred)
    calls = [c for c in admin("GET", "/_sim/calls")[1] if c["action"] == "AssumeRole"]
    assert calls and calls[-1]["httpStatus"] == 200 and calls[-1]["accessKeyId"] == AK
    assert calls[-1]["params"]["Signature"] == "<redacted>"


def test_sts_errors_reach_the_library_as_sts_spells_them(tmp_path):
    from alibabacloud_credentials.exceptions import CredentialException

    token_file = tmp_path / "token"
    token_file.write_text(mint(ttl_seconds=-5))
    expired = credential_client(type="oidc_role_arn", role_arn=ROLE, oidc_provider_arn=PROVIDER,
                                oidc_token_file_path=str(token_file))
    with pytest.raises(CredentialException, match="AuthenticationFail.OIDCToken.Expired"):
        expired.get_credential()

    wrong_role = credential_client(type="ram_role_arn", access_key_id=AK, access_key_secret=SK,
                                   role_arn="acs:ram::1234567890123456:role/nope",
                                   external_id="sdk-external-id")
    with pytest.raises(CredentialException, match="EntityNotExist.Role"):
        wrong_role.get_credential()

    wrong_secret = credential_client(type="ram_role_arn", access_key_id=AK,
                                     access_key_secret="not-the-secret", role_arn=ROLE)
    with pytest.raises(CredentialException, match="SignatureDoesNotMatch"):
        wrong_secret.get_credential()
