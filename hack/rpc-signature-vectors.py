#!/usr/bin/env python3
"""Generates tests/fixtures/rpc-signature-vectors.json: RPC-style (STS) signatures made by the
official Alibaba Cloud SDKs' own code, with a fixed nonce and timestamp.

    "$(hack/python-sdk.sh)" hack/rpc-signature-vectors.py > tests/fixtures/rpc-signature-vectors.json

Three generators, each the SDK's own signing code, none re-implemented here:
  * aliyun-python-sdk-core: aliyunsdkcore.auth.composer.rpc_signature_composer.get_signed_url
    (its clock and nonce patched to fixed values), which returns the string to sign too;
  * alibabacloud-tea-openapi: Utils.get_rpcsignature (what the tea SDKs send for RPC APIs);
  * alibabacloud-credentials: parameter_helper.compose_string_to_sign + sign_string, which is
    what its RamRoleArnCredentialsProvider signs AssumeRole with. It encodes with quote_plus, so
    it agrees with the POP standard only for values without spaces; it gets only the cases it
    would really send (no spaces).
tests/rpc_signature_vectors.rs checks the Rust signer (src/edas/signer.rs, rpc_*) against every
vector, and the simulator's STS verifier accepts them.
"""
import json
import sys
from importlib import metadata
from urllib.parse import parse_qsl, urlsplit

import aliyunsdkcore.auth.composer.rpc_signature_composer as core_rpc
from aliyunsdkcore.utils import parameter_helper as core_helper
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from alibabacloud_credentials.utils import parameter_helper as cred_helper

AK, SECRET = "testid", "testsecret"
NONCE, TIMESTAMP = "3f6d0a7e-8c1b-4b5e-9a2f-6c7d8e9f0a1b", "2025-01-15T08:00:00Z"

# Business parameters of each case (the common ones are added per generator).
CASES = {
    "assume-role": {
        "Action": "AssumeRole",
        "Version": "2015-04-01",
        "RoleArn": "acs:ram::1234567890123456:role/edas-team-a",
        "RoleSessionName": "edas-operator",
        "DurationSeconds": "3600",
    },
    "assume-role-external-id-sts-caller": {
        "Action": "AssumeRole",
        "Version": "2015-04-01",
        "RoleArn": "acs:ram::1234567890123456:role/edas-team-b",
        "RoleSessionName": "team-b.session@ops",
        "ExternalId": "abcd-1234_~x",
        "DurationSeconds": "900",
        "SecurityToken": "CAIS+token/with=chars&more",
    },
    "special-characters": {
        "Action": "AssumeRole",
        "Version": "2015-04-01",
        "RoleArn": "acs:ram::1234567890123456:role/r",
        "RoleSessionName": "s",
        "Policy": '{"Version":"1","Statement":[{"Effect":"Allow","Action":["edas:*"],"Resource":["*"]}]} a b~c/d+e=f&g 测试',
        "Empty": "",
    },
}
NO_SPACES = ["assume-role", "assume-role-external-id-sts-caller"]


def core_vector(case, params, method):
    saved = (core_helper.get_iso_8061_date, core_helper.get_uuid)
    core_helper.get_iso_8061_date = lambda: TIMESTAMP
    core_helper.get_uuid = lambda: NONCE
    try:
        url, sts = core_rpc.get_signed_url(dict(params), AK, SECRET, "JSON", method, {})
    finally:
        core_helper.get_iso_8061_date, core_helper.get_uuid = saved
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    signature = query.pop("Signature")
    return {
        "id": f"core/{case}/{method}",
        "sdk": "aliyun-python-sdk-core " + metadata.version("aliyun-python-sdk-core"),
        "method": method,
        "params": query,
        "secret": SECRET,
        "string_to_sign": sts,
        "signature": signature,
        "url_as_sent": url,
    }


def common(params):
    out = dict(params)
    out.update({
        "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": NONCE,
        "Timestamp": TIMESTAMP,
        "AccessKeyId": AK,
    })
    return out


def tea_vector(case, params, method):
    signed = common(params)
    return {
        "id": f"tea-openapi/{case}/{method}",
        "sdk": "alibabacloud-tea-openapi " + metadata.version("alibabacloud-tea-openapi"),
        "method": method,
        "params": signed,
        "secret": SECRET,
        "signature": TeaUtils.get_rpcsignature(signed, method, SECRET),
    }


def credentials_vector(case, params):
    signed = common(params)
    sts = cred_helper.compose_string_to_sign("GET", signed)
    return {
        "id": f"credentials/{case}/GET",
        "sdk": "alibabacloud-credentials " + metadata.version("alibabacloud-credentials"),
        "method": "GET",
        "params": signed,
        "secret": SECRET,
        "string_to_sign": sts,
        "signature": cred_helper.sign_string(sts, SECRET + "&"),
    }


vectors = []
for case, params in CASES.items():
    for method in ["GET", "POST"]:
        vectors.append(core_vector(case, params, method))
        vectors.append(tea_vector(case, params, method))
    if case in NO_SPACES:
        vectors.append(credentials_vector(case, params))

json.dump({
    "about": "RPC-style (STS) HMAC-SHA1 signatures made by the official SDKs' own code; "
             "generated by hack/rpc-signature-vectors.py",
    "access_key_id": AK,
    "nonce": NONCE,
    "timestamp": TIMESTAMP,
    "vectors": vectors,
}, sys.stdout, indent=2, ensure_ascii=False, sort_keys=False)
sys.stdout.write("\n")
