"""The simulator driven by the official EDAS Python SDKs, each flavour in turn."""

import datetime
import uuid

import pytest

from conftest import (
    AK,
    APP,
    GROUP,
    OTHER_APP,
    STS_AK,
    STS_SK,
    STS_TOKEN,
    ApiFailure,
    admin,
    eccs_of,
    make_client,
    reset,
    sim_state,
    wait_for_status,
)


def test_list_get_and_query_show_the_fleet(client):
    apps = client.call("ListApplication")["ApplicationList"]["Application"]
    assert {a["AppId"] for a in apps} == {APP, OTHER_APP}
    app = client.call("GetApplication", AppId=APP)["Application"]
    assert app["Name"] == "sdk-app" and app["InstanceCount"] == 4

    body = client.call("QueryApplicationStatus", AppId=APP)
    assert body["Code"] == 200 and body["RequestId"]
    info = body["AppInfo"]
    assert [e["EccId"] for e in info["EccList"]["Ecc"]] == ["ecc-1", "ecc-2", "ecc-3", "ecc-4"]
    assert all(e["AppState"] == 7 and e["TaskState"] == 2 for e in info["EccList"]["Ecc"])
    ecus = {u["EcuId"]: u for u in info["EcuList"]["Ecu"]}
    assert ecus["ecu-3"]["InstanceId"] == "i-sdk-3" and ecus["ecu-3"]["IpAddr"] == "10.1.0.3"
    assert [g["GroupId"] for g in info["GroupList"]["Group"]] == [GROUP]

    groups = client.call("ListDeployGroup", AppId=APP)["DeployGroupList"]["DeployGroup"]
    assert [g["GroupId"] for g in groups] == [GROUP]


def test_scale_in_is_followed_to_done_and_the_ecc_is_gone(client):
    body = client.call("ScaleInApplication", AppId=APP, EccInfo="ecc-2", ForceStatus=False)
    assert body["Code"] == 200
    co = body["ChangeOrderId"]
    assert co

    info, seen = wait_for_status(client, co, {2})
    assert seen[-1] == 2 and 1 in seen, seen
    assert info["Targets"]["Items"] == ["ecc-2"]
    assert info["BatchType"] == "Automatic" and info["BatchCount"] == 1
    pipeline = info["PipelineInfoList"]["PipelineInfo"][0]
    task = pipeline["StageDetailList"]["StageDetailDTO"][0]["TaskList"]["TaskInfoDTO"][0]
    assert task["TaskStatus"] == "2"

    status = client.call("QueryApplicationStatus", AppId=APP)["AppInfo"]
    assert [e["EccId"] for e in status["EccList"]["Ecc"]] == ["ecc-1", "ecc-3", "ecc-4"]
    assert "ecu-2" not in {u["EcuId"] for u in status["EcuList"]["Ecu"]}

    orders = client.call("ListRecentChangeOrder", AppId=APP)["ChangeOrderList"]["ChangeOrder"]
    assert orders[0]["ChangeOrderId"] == co
    assert orders[0]["Source"] == "pop" and orders[0]["CoTypeCode"] == "CoScaleIn"
    assert orders[0]["Status"] == 2
    assert "EccIds=ecc-2" in orders[0]["ChangeOrderDescription"]
    datetime.datetime.strptime(orders[0]["CreateTime"], "%Y-%m-%d %H:%M:%S")


def test_forced_scale_in_removes_at_once_without_an_order(client):
    body = client.call("ScaleInApplication", AppId=APP, EccInfo="ecc-1,ecc-4", ForceStatus=True)
    assert body["Code"] == 200
    assert not body.get("ChangeOrderId")
    assert eccs_of(APP) == ["ecc-2", "ecc-3"]


def test_scale_out_onto_a_free_ecu(client):
    free = client.call("ListScaleOutEcu", AppId=APP)["EcuInfoList"]["EcuInfo"]
    assert [u["EcuId"] for u in free] == ["ecu-5", "ecu-6"]
    assert free[0]["InstanceId"] == "i-sdk-5"
    co = client.call("ScaleOutApplication", AppId=APP, DeployGroup=GROUP, EcuInfo="ecu-5")[
        "ChangeOrderId"
    ]
    wait_for_status(client, co, {2})
    status = client.call("QueryApplicationStatus", AppId=APP)["AppInfo"]
    assert "ecu-5" in {e["EcuId"] for e in status["EccList"]["Ecc"]}


def test_unknown_ecc_is_a_601_naming_it(client):
    body = client.call("ScaleInApplication", AppId=APP, EccInfo="ecc-1,ecc-o1")
    assert body["Code"] == 601
    assert "ecc-o1" in body["Message"]
    assert eccs_of(APP) == ["ecc-1", "ecc-2", "ecc-3", "ecc-4"]
    body = client.call("QueryApplicationStatus", AppId="no-such-app")
    assert body["Code"] == 601 and "does not exist" in body["Message"]


def test_second_scale_in_while_one_runs_gets_601(client):
    reset(seconds_per_instance=30)
    first = client.call("ScaleInApplication", AppId=APP, EccInfo="ecc-1")
    assert first["Code"] == 200
    second = client.call("ScaleInApplication", AppId=APP, EccInfo="ecc-2")
    assert second["Code"] == 601
    assert "change order is in progress" in second["Message"]
    aborted = client.call("AbortChangeOrder", ChangeOrderId=first["ChangeOrderId"])
    assert aborted["Code"] == 200
    info, _ = wait_for_status(client, first["ChangeOrderId"], {6})
    assert info["Status"] == 6
    assert eccs_of(APP) == ["ecc-1", "ecc-2", "ecc-3", "ecc-4"]


def test_manual_batches_wait_for_continue_pipeline(client):
    reset(batch_type="Manual", batch_count=2)
    co = client.call("ScaleInApplication", AppId=APP, EccInfo="ecc-1,ecc-2")["ChangeOrderId"]
    info, _ = wait_for_status(client, co, {8})
    assert eccs_of(APP) == ["ecc-2", "ecc-3", "ecc-4"]
    pipelines = info["PipelineInfoList"]["PipelineInfo"]
    assert [p["PipelineStatus"] for p in pipelines] == [2, 8]
    body = client.call("ContinuePipeline", PipelineId=pipelines[1]["PipelineId"], Confirm=True)
    assert body["Code"] == 200
    wait_for_status(client, co, {2})
    assert eccs_of(APP) == ["ecc-3", "ecc-4"]


def test_failed_change_order_reports_the_task_error(client):
    admin("POST", "/_sim/faults", {"failNextChangeOrders": 1})
    co = client.call("ScaleInApplication", AppId=APP, EccInfo="ecc-3")["ChangeOrderId"]
    info, _ = wait_for_status(client, co, {3})
    task = info["PipelineInfoList"]["PipelineInfo"][0]["StageDetailList"]["StageDetailDTO"][0][
        "TaskList"
    ]["TaskInfoDTO"][0]
    assert task["TaskErrorCode"] and "ecc-3" in task["TaskErrorMessage"]
    assert "ecc-3" in eccs_of(APP)


def test_wrong_secret_is_signature_does_not_match(flavour):
    bad = make_client(flavour, secret="not-the-secret")
    with pytest.raises(ApiFailure) as e:
        bad.call("QueryApplicationStatus", AppId=APP)
    assert e.value.code == "SignatureDoesNotMatch"
    assert e.value.http_status == 400
    assert "server string to sign is:" in e.value.message
    # Each flavour really signed the way it is said to.
    expected = "ACS3-HMAC-SHA256" if flavour == "tea-v3" else "GET"
    assert f"server string to sign is:{expected}" in e.value.message.replace("\\n", "\n")


def test_unknown_access_key_is_not_found(flavour):
    bad = make_client(flavour, key="nobody")
    with pytest.raises(ApiFailure) as e:
        bad.call("ListApplication")
    assert e.value.code == "InvalidAccessKeyId.NotFound"


def test_sts_token_is_required_and_checked(flavour):
    good = make_client(flavour, key=STS_AK, secret=STS_SK, token=STS_TOKEN)
    assert good.call("GetApplication", AppId=APP)["Code"] == 200
    wrong = make_client(flavour, key=STS_AK, secret=STS_SK, token="stolen")
    with pytest.raises(ApiFailure) as e:
        wrong.call("GetApplication", AppId=APP)
    assert e.value.code.startswith("InvalidSecurityToken")
    missing = make_client(flavour, key=STS_AK, secret=STS_SK)
    with pytest.raises(ApiFailure) as e:
        missing.call("GetApplication", AppId=APP)
    assert e.value.code.startswith("InvalidSecurityToken")


def test_stale_date_is_expired(flavour, monkeypatch):
    stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    if flavour.startswith("tea"):
        from alibabacloud_tea_openapi.utils import Utils

        monkeypatch.setattr(
            Utils, "get_date_utcstring", staticmethod(lambda: stale.strftime("%a, %d %b %Y %H:%M:%S GMT"))
        )
        monkeypatch.setattr(
            Utils, "get_timestamp", staticmethod(lambda: stale.strftime("%Y-%m-%dT%H:%M:%SZ"))
        )
    else:
        from aliyunsdkcore.utils import parameter_helper

        monkeypatch.setattr(
            parameter_helper,
            "get_rfc_2616_date",
            lambda: stale.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        )
    with pytest.raises(ApiFailure) as e:
        make_client(flavour).call("ListApplication")
    assert e.value.code == "InvalidTimeStamp.Expired"


def test_replayed_nonce_is_refused(flavour, monkeypatch):
    nonce = uuid.uuid4().hex
    client = make_client(flavour)
    if flavour.startswith("tea"):
        from alibabacloud_tea_openapi.utils import Utils

        monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
    else:
        # aliyunsdkcore sends no nonce for ROA; add one (it is signed, being x-acs-*).
        client.extra_headers["x-acs-signature-nonce"] = nonce
    assert client.call("ListApplication")["Code"] == 200
    with pytest.raises(ApiFailure) as e:
        client.call("ListApplication")
    assert e.value.code == "SignatureNonceUsed"


def test_throttling_past_the_limit(client):
    reset(limits={"QueryApplicationStatus": 3})
    for _ in range(3):
        assert client.call("QueryApplicationStatus", AppId=APP)["Code"] == 200
    with pytest.raises(ApiFailure) as e:
        client.call("QueryApplicationStatus", AppId=APP)
    assert e.value.code == "Throttling.User"
    # Other operations and other keys have their own windows.
    assert client.call("ListDeployGroup", AppId=APP)["Code"] == 200


def test_console_order_is_listed_with_source_console(client):
    status, body = admin("POST", f"/_sim/apps/{APP}/change-orders", {"coType": "CoDeploy"})
    assert status == 201, body
    orders = client.call("ListRecentChangeOrder", AppId=APP)["ChangeOrderList"]["ChangeOrder"]
    assert orders[0]["ChangeOrderId"] == body["changeOrderId"]
    assert orders[0]["Source"] == "console" and orders[0]["CoTypeCode"] == "CoDeploy"


def test_every_call_is_in_the_call_log(client):
    admin("DELETE", "/_sim/calls")
    client.call("ScaleInApplication", AppId=APP, EccInfo="ecc-1,ecc-2")
    bad = make_client("tea-v3", secret="wrong")
    with pytest.raises(ApiFailure):
        bad.call("ListApplication")
    status, calls = admin("GET", "/_sim/calls")
    assert status == 200
    assert [c["action"] for c in calls] == ["ScaleInApplication", "ListApplication"]
    assert calls[0]["params"]["EccInfo"] == "ecc-1,ecc-2"
    assert calls[0]["method"] == "POST" and calls[0]["httpStatus"] == 200 and calls[0]["code"] == 200
    assert calls[1]["httpStatus"] == 400 and calls[1]["code"] == "SignatureDoesNotMatch"
    assert calls[0]["at"] <= calls[1]["at"]
    assert sim_state()["changeOrders"][0]["eccIds"] == ["ecc-1", "ecc-2"]
    assert AK == calls[0]["accessKeyId"]
