"""Shared set-up for the simulator scenarios run with the official EDAS Python SDKs.

The simulator's base URL comes from EDAS_SIM_URL (tests/sim_sdk.rs starts the simulator and sets
it). Every test starts from a state document it posts to /_sim/reset.

Three client flavours, all returning bodies as dicts spelled as the API spells them:
  tea-v3   alibabacloud-edas20170801, default Config (ACS3-HMAC-SHA256)
  tea-v2   alibabacloud-edas20170801, Config.signature_algorithm='v2' (ROA HMAC-SHA1, bare `k`)
  core-v2  aliyun-python-sdk-edas on aliyun-python-sdk-core (ROA HMAC-SHA1, `k=`, no nonce)
"""

import importlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest

SIM_URL = os.environ.get("EDAS_SIM_URL", "").rstrip("/")
AK = "sdk-test-key"
SK = "sdk-test-secret"
STS_AK = "sdk-sts-key"
STS_SK = "sdk-sts-secret"
STS_TOKEN = "sdk-sts-token"
APP = "6b1f0c2e-1111-4a2b-9c3d-000000000001"
OTHER_APP = "6b1f0c2e-1111-4a2b-9c3d-000000000002"
GROUP = "grp-default"
FLAVOURS = ["tea-v3", "tea-v2", "core-v2"]


def state_doc(seconds_per_instance=0.2, batch_type="Automatic", batch_count=1, limits=None):
    ecus = [
        {"ecuId": f"ecu-{n}", "instanceId": f"i-sdk-{n}", "ip": f"10.1.0.{n}", "groupId": GROUP}
        for n in range(1, 7)
    ]
    eccs = [{"eccId": f"ecc-{n}", "ecuId": f"ecu-{n}", "groupId": GROUP} for n in range(1, 5)]
    return {
        "accessKeys": [
            {"id": AK, "secret": SK},
            {"id": STS_AK, "secret": STS_SK, "securityToken": STS_TOKEN},
        ],
        "apps": [
            {
                "appId": APP,
                "regionId": "cn-hangzhou",
                "name": "sdk-app",
                "groups": [{"groupId": GROUP, "groupName": "_DEFAULT_GROUP"}],
                "ecus": ecus,
                "eccs": eccs,
            },
            {
                "appId": OTHER_APP,
                "regionId": "cn-hangzhou",
                "name": "sdk-other",
                "ecus": [{"ecuId": "ecu-o1", "instanceId": "i-o1", "ip": "10.2.0.1"}],
                "eccs": [{"eccId": "ecc-o1", "ecuId": "ecu-o1"}],
            },
        ],
        "changeOrders": {
            "secondsPerInstance": seconds_per_instance,
            "batchType": batch_type,
            "batchCount": batch_count,
        },
        "limits": limits or {},
    }


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SIM_URL + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
            return resp.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def reset(**kw):
    status, body = admin("POST", "/_sim/reset", state_doc(**kw))
    assert status == 200, body


def sim_state():
    status, body = admin("GET", "/_sim/state")
    assert status == 200
    return body


def eccs_of(app_id):
    app = next(a for a in sim_state()["apps"] if a["appId"] == app_id)
    return [e["eccId"] for e in app["eccs"]]


class ApiFailure(Exception):
    """A gateway error as the SDK surfaced it."""

    def __init__(self, code, http_status, message):
        super().__init__(f"{code} (HTTP {http_status}): {message}")
        self.code = code
        self.http_status = http_status
        self.message = message


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Tea:
    """alibabacloud-edas20170801 (tea-openapi)."""

    def __init__(self, algorithm=None, key=AK, secret=SK, token=None):
        from alibabacloud_edas20170801.client import Client
        from alibabacloud_tea_openapi import utils_models

        cfg = utils_models.Config(
            access_key_id=key,
            access_key_secret=secret,
            security_token=token,
            endpoint=urlparse(SIM_URL).netloc,
            protocol="http",
            region_id="cn-hangzhou",
        )
        if algorithm:
            cfg.signature_algorithm = algorithm
        self.client = Client(cfg)

    def call(self, op, **params):
        from alibabacloud_edas20170801 import models
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

        request = getattr(models, f"{op}Request")(**{snake(k): v for k, v in params.items()})
        try:
            resp = getattr(self.client, snake(op))(request)
        except AlibabaCloudException as e:
            raise ApiFailure(e.code, e.status_code, e.message) from e
        assert resp.status_code == 200
        return resp.body.to_map()


class Core:
    """aliyun-python-sdk-edas on aliyun-python-sdk-core."""

    def __init__(self, key=AK, secret=SK, token=None):
        from aliyunsdkcore.client import AcsClient

        if token:
            from aliyunsdkcore.auth.credentials import StsTokenCredential

            self.client = AcsClient(
                region_id="cn-hangzhou",
                credential=StsTokenCredential(key, secret, token),
                auto_retry=False,
            )
        else:
            self.client = AcsClient(key, secret, "cn-hangzhou", auto_retry=False)
        self.extra_headers = {}

    def call(self, op, **params):
        from aliyunsdkcore.acs_exception.exceptions import ServerException

        module = importlib.import_module(f"aliyunsdkedas.request.v20170801.{op}Request")
        request = getattr(module, f"{op}Request")()
        request.set_endpoint(urlparse(SIM_URL).netloc)
        request.set_protocol_type("http")
        for k, v in params.items():
            getattr(request, f"set_{k}")(v)
        for k, v in self.extra_headers.items():
            request.add_header(k, v)
        try:
            return json.loads(self.client.do_action_with_exception(request))
        except ServerException as e:
            raise ApiFailure(e.get_error_code(), e.get_http_status(), e.get_error_msg()) from e


def make_client(flavour, **kw):
    if flavour == "tea-v3":
        return Tea(**kw)
    if flavour == "tea-v2":
        return Tea(algorithm="v2", **kw)
    if flavour == "core-v2":
        return Core(**kw)
    raise ValueError(flavour)


def wait_for_status(client, change_order_id, wanted, timeout=20.0):
    """Poll GetChangeOrderInfo until Status is in `wanted`; return the changeOrderInfo."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        info = client.call("GetChangeOrderInfo", ChangeOrderId=change_order_id)["changeOrderInfo"]
        if not seen or seen[-1] != info["Status"]:
            seen.append(info["Status"])
        if info["Status"] in wanted:
            return info, seen
        assert time.monotonic() < deadline, f"status never reached {wanted}: {seen}"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def fresh_state():
    assert SIM_URL, "set EDAS_SIM_URL to the simulator's base URL"
    reset()
    yield
    admin("POST", "/_sim/faults", {"errorRate": 0, "throttleRate": 0, "dropRate": 0,
                                   "latencyMs": 0, "failNextChangeOrders": 0,
                                   "stallChangeOrders": False})


@pytest.fixture(params=FLAVOURS)
def flavour(request):
    return request.param


@pytest.fixture
def client(flavour):
    return make_client(flavour)
