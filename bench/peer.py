#!/usr/bin/env python3
"""The benchmark's peer: what Terraform's EDAS scale resource does, with the official SDK.

For each app in turn (Terraform applies one `alicloud_edas_application_scale` at a time when
they depend on each other, and a single resource never overlaps its own change orders):

  1. ScaleInApplication of the app's extra ECC (the ECC id Terraform keeps in state as
     `ecc_info`; no observation first, which only favours the peer);
  2. treat Code != 200 as a failure;
  3. follow the change order with GetChangeOrderInfo the way
     `BuildStateConf(pending 0,1; target 2; delay 5s)` does it
     (terraform-provider-alicloud alicloud/common.go, on terraform-plugin-sdk v2
     helper/resource.StateChangeConf): first refresh after the 5 s delay, then waits of
     MinTimeout 3 s, 6 s, then 10 s (doubling, capped at 10 s); 3, 6 and 10 are failures.

Client: alibabacloud-edas20170801 (tea-openapi, its default ACS3-HMAC-SHA256 signature),
endpoint 127.0.0.1:PORT over plain HTTP, as tests/sdk/conftest.py configures it. No retries
(tea-openapi retries nothing unless told to).

Usage (bench/run.py runs it with the venv from hack/python-sdk.sh):
  peer.py --endpoint 127.0.0.1:PORT --access-key-id AK --access-key-secret SK \
          --fleet FLEET.json --out RESULT.json
FLEET.json: [{"appId": ..., "eccId": <the ECC to remove>}, ...]
RESULT.json: total seconds, per-app seconds and polls, calls the peer made, failures.
"""

import argparse
import json
import sys
import time

from alibabacloud_edas20170801 import models
from alibabacloud_edas20170801.client import Client
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

PENDING = {0, 1}
TARGET = {2}
FAILED = {3, 6, 10}
DELAY_S = 5.0
MIN_TIMEOUT_S = 3.0
MAX_WAIT_S = 10.0
TIMEOUT_S = 600.0  # Terraform's default create timeout for the resource is 10 minutes


def state_change_waits():
    """Seconds to sleep before each refresh, as plugin-sdk v2 StateChangeConf sleeps them.

    Delay, then (first loop without wait) 100 ms doubled and bounded to [MinTimeout, 10 s]:
    5, 3, 6, 10, 10, ... (refreshes at 5 s, 8 s, 14 s, 24 s, 34 s, ...).
    """
    yield DELAY_S
    wait = 0.1
    while True:
        wait *= 2
        wait = MIN_TIMEOUT_S if wait < MIN_TIMEOUT_S else min(wait, MAX_WAIT_S)
        yield wait


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="HOST:PORT of the simulator")
    ap.add_argument("--access-key-id", required=True)
    ap.add_argument("--access-key-secret", required=True)
    ap.add_argument("--fleet", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    with open(args.fleet) as f:
        fleet = json.load(f)
    client = Client(
        utils_models.Config(
            access_key_id=args.access_key_id,
            access_key_secret=args.access_key_secret,
            endpoint=args.endpoint,
            protocol="http",
            region_id="cn-hangzhou",
        )
    )

    calls = {"ScaleInApplication": 0, "GetChangeOrderInfo": 0}
    failures = []
    per_app = []
    started = time.monotonic()
    for item in fleet:
        app_id, ecc_id = item["appId"], item["eccId"]
        t_app = time.monotonic()
        polls = 0
        try:
            calls["ScaleInApplication"] += 1
            body = client.scale_in_application(
                models.ScaleInApplicationRequest(app_id=app_id, ecc_info=ecc_id, force_status=False)
            ).body
            if body.code != 200:
                raise RuntimeError(f"scaleIn application failed for {body.message}")
            co = body.change_order_id
            if co:
                deadline = time.monotonic() + TIMEOUT_S
                for wait in state_change_waits():
                    time.sleep(wait)
                    calls["GetChangeOrderInfo"] += 1
                    polls += 1
                    info = client.get_change_order_info(
                        models.GetChangeOrderInfoRequest(change_order_id=co)
                    ).body
                    if info.code != 200:
                        raise RuntimeError(f"GetChangeOrderInfo failed: {info.message}")
                    status = info.change_order_info.status
                    if status in TARGET:
                        break
                    if status in FAILED:
                        raise RuntimeError(f"change order {co} ended with status {status}")
                    if status not in PENDING:
                        raise RuntimeError(f"change order {co}: unexpected status {status}")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"change order {co}: timeout after {TIMEOUT_S:.0f}s")
        except (AlibabaCloudException, RuntimeError) as e:
            failures.append({"appId": app_id, "error": str(e)[:300]})
        per_app.append({"seconds": round(time.monotonic() - t_app, 3), "polls": polls})
    total = time.monotonic() - started

    secs = sorted(a["seconds"] for a in per_app)
    result = {
        "apps": len(fleet),
        "seconds": round(total, 3),
        "perAppSeconds": {
            "min": secs[0] if secs else 0,
            "median": secs[len(secs) // 2] if secs else 0,
            "max": secs[-1] if secs else 0,
        },
        "pollsPerOrder": round(sum(a["polls"] for a in per_app) / max(len(per_app), 1), 3),
        "callsMade": calls,
        "failures": failures[:20],
        "failureCount": len(failures),
        "pollSchedule": "GetChangeOrderInfo at 5 s, then +3 s, +6 s, +10 s, +10 s, ... (StateChangeConf delay 5 s, MinTimeout 3 s)",
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: result[k] for k in ("apps", "seconds", "pollsPerOrder", "failureCount")}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
