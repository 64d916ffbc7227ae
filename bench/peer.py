#!/usr/bin/env python3
"""The benchmark's peer: `tofu destroy` of N `alicloud_edas_application_scale` resources, with
the official Python SDK, the way the real Terraform provider drives EDAS.

Each fleet item stands for one resource in Terraform state (an app and the one instance it
scaled out); destroying it scales that instance in. The run has the two phases of
`tofu destroy` (OpenTofu 1.12 / Terraform, default `-parallelism=10`):

  1. Refresh (skipped with `--refresh false`, like `-refresh=false`): the plan reads every
     resource once, all of them as one burst through a pool of `--parallelism` workers. The
     resource's Read is one QueryApplicationStatus; it maps the resource's ECU to the ECC that
     runs on it (the `ecc_info` the delete will use), and Code != 200 is an error. A failed
     read (throttled, or any other error) fails the plan, so the whole run fails before any
     ScaleIn: every resource is reported failed, with the reason.
  2. Apply (destroy), per resource, again `--parallelism` workers: ScaleInApplication of the
     resource's `ecc_info` (Code != 200 is an error), then, when it returned a change order,
     wait for it the way `BuildStateConf(pending 0,1; target 2; delay 5 s)` does: the first
     GetChangeOrderInfo 5 s after the ScaleIn, then waits of 3 s, 6 s and 10 s from then on
     (`state_change_waits`); status 2 is done, 3, 6 and 10 are failures, any other status is
     "unexpected". A refresh call that fails (throttled or otherwise) fails the resource at
     once: no retry, no pacing. A resource whose ScaleIn made an order but whose wait failed
     leaves that order behind (still running, or finished unseen): a "left-over" order, still
     in Terraform state, whose next destroy would send another ScaleIn.
  The read after the change is never made (Delete returns nil); the order's own status is the
  confirmation.

Where this behaviour comes from (public source; looked up, not copied):
  - aliyun/terraform-provider-alicloud alicloud/resource_alicloud_edas_application_scale.go:
    `resourceAlicloudEdasApplicationScaleRead` (QueryApplicationStatus, Code != 200 is an
    error, ECU -> ECC into `ecc_info`), `resourceAlicloudEdasApplicationScaleDelete`
    (ScaleInApplication of `ecc_info`, Code != 200 is an error, then
    `BuildStateConf([0 1], [2], d.Timeout(schema.TimeoutCreate), 5*time.Second,
    EdasChangeOrderStatusRefreshFunc(id, [3 6 10]))` and `WaitForState`; no Read after),
    `resourceAlicloudEdasApplicationScaleCreate` (the same wait after ScaleOut).
  - aliyun/terraform-provider-alicloud alicloud/service_alicloud_edas.go:
    `EdasChangeOrderStatusRefreshFunc` (a failed GetChangeOrderInfo is returned as an error; a
    status in the fail list is an error) and `GetChangeOrderStatus` (one GetChangeOrderInfo;
    it does not check the body's Code).
  - aliyun/terraform-provider-alicloud alicloud/common.go: `BuildStateConf` (StateChangeConf
    with the given Delay and Timeout, MinTimeout 3 s).
  - hashicorp/terraform-plugin-sdk (v2) helper/resource/state.go:
    `StateChangeConf.WaitForStateContext` / `WaitForState` (sleep Delay; first refresh without
    wait; then the wait starts at 100 ms, doubles, and is bounded to [MinTimeout, 10 s]; a
    refresh error ends the wait with that error; a state neither pending nor target is an
    UnexpectedStateError). In later v2 releases the same loop lives in helper/retry/state.go
    and helper/resource/aliases.go keeps the old names.
  - hashicorp/terraform-plugin-sdk (v2) helper/schema/resource_data.go `ResourceData.Timeout`:
    20 minutes when the resource declares no timeouts (this one declares none).
  - opentofu/opentofu internal/command/command.go `DefaultParallelism = 10`;
    internal/tofu/context.go `NewContext` (parallelism 0 -> 10, the `parallelSem` semaphore);
    internal/tofu/graph_walk_context.go `ContextGraphWalker.Execute` (every graph node, i.e.
    each resource's refresh and each resource's whole delete including its wait, holds one
    semaphore slot). Terraform's own internal/command/command.go has the same constant.

Client: alibabacloud-edas20170801 (tea-openapi, its default ACS3-HMAC-SHA256 signature),
endpoint 127.0.0.1:PORT over plain HTTP, as tests/sdk/conftest.py configures it; one client
per worker thread. No retries (tea-openapi retries nothing unless told to; the provider's EDAS
calls above use no retry wrapper either).

Usage (bench/run.py runs it with the venv from hack/python-sdk.sh):
  peer.py --endpoint 127.0.0.1:PORT --access-key-id AK --access-key-secret SK \\
          --fleet FLEET.json --out RESULT.json [--parallelism 10] [--refresh true|false]
FLEET.json: [{"appId": ..., "eccId": <the ECC in state>, "ecuId": <its ECU, optional>}, ...]
  (with ecuId the refresh re-derives the ECC from QueryApplicationStatus, as Read does;
  without it the state's eccId is used)
RESULT.json: ok, total seconds, time to 50% / 90% / 100% of the resources destroyed, calls by
  action, throttled calls, failed resources with their error code, left-over orders,
  per-resource outcome and finish time, and the parameters. Exit status 1 when not ok (as
  `tofu destroy` exits 1).
"""

import argparse
import json
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from alibabacloud_edas20170801 import models
from alibabacloud_edas20170801.client import Client
from alibabacloud_tea_openapi import utils_models

# The wait after ScaleIn: BuildStateConf(pending, target, timeout, delay) on StateChangeConf.
PENDING = {0, 1}
TARGET = {2}
FAILED = {3, 6, 10}  # EdasChangeOrderStatusRefreshFunc's fail list
DELAY_S = 5.0  # BuildStateConf(..., 5*time.Second, ...) in the resource's Delete
MIN_TIMEOUT_S = 3.0  # BuildStateConf's MinTimeout
MAX_WAIT_S = 10.0  # WaitForState's upper bound on the backoff
TIMEOUT_S = 1200.0  # d.Timeout(schema.TimeoutCreate) with no timeouts declared: 20 minutes
DEFAULT_PARALLELISM = 10  # OpenTofu / Terraform -parallelism default

# Outcomes of one resource.
DONE = "done"  # its order was seen at status 2 (or ScaleIn made no order)
FAILED_OUTCOME = "failed"
NOT_RUN = "not-run"  # the run failed before this resource was touched (refresh failed)


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


class CallFailed(Exception):
    """One EDAS call that failed: the SDK raised (gateway error, transport) or the body's Code
    was not 200. `code` is the gateway's string code (e.g. Throttling.User), the body Code as
    text, or the exception's type name for transport errors."""

    def __init__(self, action, code, message, throttled=False):
        super().__init__(f"{action}: {code}: {message}")
        self.action = action
        self.code = code
        self.message = message
        self.throttled = throttled


class WaitFailed(Exception):
    """The change-order wait ended without the target state (fail state, unexpected, timeout)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Edas:
    """The SDK client (one per worker thread) and the peer's own count of the calls it made."""

    def __init__(self, endpoint, ak, sk):
        self.config = dict(access_key_id=ak, access_key_secret=sk, endpoint=endpoint, protocol="http", region_id="cn-hangzhou")
        self.local = threading.local()
        self.lock = threading.Lock()
        self.calls = {}  # action -> {"sent", "ok", "throttled", "failed"}

    def client(self):
        if not hasattr(self.local, "client"):
            self.local.client = Client(utils_models.Config(**self.config))
        return self.local.client

    def _count(self, action, outcome):
        with self.lock:
            c = self.calls.setdefault(action, {"sent": 0, "ok": 0, "throttled": 0, "failed": 0})
            c["sent"] += 1
            c[outcome] += 1

    def call(self, action, fn, request, check_code=True):
        """One call, never retried. Raises CallFailed; with check_code, a body Code != 200 too."""
        try:
            body = fn(self.client())(request).body
        except Exception as e:  # noqa: BLE001 - every SDK or transport error fails the call
            code = getattr(e, "code", None) or type(e).__name__
            throttled = isinstance(code, str) and code.startswith("Throttling")
            self._count(action, "throttled" if throttled else "failed")
            raise CallFailed(action, str(code), str(getattr(e, "message", None) or e)[:300], throttled) from None
        if check_code and body.code != 200:
            self._count(action, "failed")
            raise CallFailed(action, str(body.code), str(body.message)[:300])
        self._count(action, "ok")
        return body


class Resource:
    """One `alicloud_edas_application_scale` in state, and what happened to it."""

    def __init__(self, item):
        self.app_id = item["appId"]
        self.ecu_id = item.get("ecuId")
        self.ecc_info = item["eccId"]  # `ecc_info` as the last apply left it in state
        self.outcome = NOT_RUN
        self.finished = None  # seconds since the run started
        self.polls = 0
        self.change_order = None
        self.last_status = None  # last change-order status the peer saw
        self.error = None  # {"action", "code", "message"}

    def fail(self, t, action, code, message):
        self.outcome = FAILED_OUTCOME
        self.finished = t
        self.error = {"action": action, "code": code, "message": message[:300]}

    def left_over(self):
        """An order this resource created and never saw finish (status 2, 3, 6 or 10)."""
        return bool(self.change_order) and self.last_status not in TARGET | FAILED

    def summary(self):
        return {
            "appId": self.app_id,
            "outcome": self.outcome,
            "seconds": self.finished,
            "polls": self.polls,
            "changeOrderId": self.change_order,
            "lastStatus": self.last_status,
            **({"error": self.error} if self.error else {}),
        }


class Peer:
    def __init__(self, edas, fleet, parallelism):
        self.edas = edas
        self.resources = [Resource(item) for item in fleet]
        self.parallelism = parallelism
        self.t0 = None

    def now(self):
        return round(time.monotonic() - self.t0, 3)

    def pool(self, fn):
        """Run fn over every resource with `parallelism` workers (the graph walker's semaphore);
        every resource is tried, whatever the others' outcome (independent graph nodes)."""
        with ThreadPoolExecutor(max_workers=self.parallelism) as ex:
            list(ex.map(fn, self.resources))

    # -- phase 1: the plan's refresh (resourceAlicloudEdasApplicationScaleRead)

    def refresh(self, r):
        try:
            body = self.edas.call(
                "QueryApplicationStatus", lambda c: c.query_application_status,
                models.QueryApplicationStatusRequest(app_id=r.app_id),
            )
        except CallFailed as e:
            r.error = {"action": e.action, "code": e.code, "message": e.message}
            return
        if r.ecu_id:
            eccs = body.app_info.ecc_list.ecc if body.app_info and body.app_info.ecc_list else []
            r.ecc_info = ",".join(e.ecc_id for e in eccs or [] if e.ecu_id == r.ecu_id)

    # -- phase 2: the destroy (resourceAlicloudEdasApplicationScaleDelete)

    def destroy(self, r):
        try:
            body = self.edas.call(
                "ScaleInApplication", lambda c: c.scale_in_application,
                models.ScaleInApplicationRequest(app_id=r.app_id, ecc_info=r.ecc_info),
            )
        except CallFailed as e:
            return r.fail(self.now(), e.action, e.code, e.message)
        r.change_order = body.change_order_id or None
        if r.change_order:
            try:
                self.wait(r)
            except CallFailed as e:
                return r.fail(self.now(), e.action, e.code, e.message)
            except WaitFailed as e:
                return r.fail(self.now(), "GetChangeOrderInfo", e.code, str(e))
        r.outcome = DONE
        r.finished = self.now()

    def wait(self, r):
        """StateChangeConf.WaitForState over EdasChangeOrderStatusRefreshFunc."""
        deadline = time.monotonic() + TIMEOUT_S
        for pause in state_change_waits():
            if time.monotonic() + pause > deadline:
                raise WaitFailed("Timeout", f"change order {r.change_order}: timeout after {TIMEOUT_S:.0f}s (last status {r.last_status})")
            time.sleep(pause)
            r.polls += 1
            # GetChangeOrderStatus does not look at the body's Code: a body without an order
            # reads as status 0 (pending), as the Go SDK's zero value would.
            body = self.edas.call(
                "GetChangeOrderInfo", lambda c: c.get_change_order_info,
                models.GetChangeOrderInfoRequest(change_order_id=r.change_order), check_code=False,
            )
            info = body.change_order_info
            status = info.status if info is not None and info.status is not None else 0
            r.last_status = status
            if status in FAILED:
                raise WaitFailed(f"Status{status}", f"change order {r.change_order} ended with status {status}")
            if status in TARGET:
                return
            if status not in PENDING:
                raise WaitFailed("UnexpectedState", f"change order {r.change_order}: unexpected status {status}")

    # -- the run

    def run(self, refresh):
        self.t0 = time.monotonic()
        out = {"refresh": None, "failedIn": None, "reason": None}
        if refresh:
            self.pool(self.refresh)
            bad = [r for r in self.resources if r.error]
            out["refresh"] = {
                "reads": len(self.resources),
                "failed": len(bad),
                "throttled": sum(1 for r in bad if r.error["code"].startswith("Throttling")),
                "seconds": self.now(),
            }
            if bad:
                # The plan fails: nothing is destroyed, every resource stays in state.
                t = self.now()
                codes = {}
                for r in bad:
                    codes[r.error["code"]] = codes.get(r.error["code"], 0) + 1
                for r in self.resources:
                    if not r.error:
                        r.error = {"action": "plan", "code": "RefreshFailed", "message": "the plan failed (another resource's refresh failed); not destroyed"}
                    r.outcome, r.finished = FAILED_OUTCOME, t
                what = ", ".join(f"{k} {v}" for k, v in sorted(codes.items()))
                out["failedIn"] = "refresh"
                out["reason"] = f"{len(bad)} of {len(self.resources)} refresh reads failed ({what}); 0 ScaleIn"
                return out
        self.pool(self.destroy)
        bad = [r for r in self.resources if r.outcome != DONE]
        if bad:
            codes = {}
            for r in bad:
                codes[f"{r.error['action']} {r.error['code']}"] = codes.get(f"{r.error['action']} {r.error['code']}", 0) + 1
            what = ", ".join(f"{k} {v}" for k, v in sorted(codes.items()))
            out["failedIn"] = "apply"
            out["reason"] = f"{len(bad)} of {len(self.resources)} resources errored: {what}"
        return out


def milestone(finish_times, n, frac):
    """Seconds until ceil(frac * n) resources were done; None when never reached."""
    k = max(1, math.ceil(frac * n))
    return finish_times[k - 1] if len(finish_times) >= k else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="HOST:PORT of the simulator")
    ap.add_argument("--access-key-id", required=True)
    ap.add_argument("--access-key-secret", required=True)
    ap.add_argument("--fleet", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--parallelism", type=int, default=DEFAULT_PARALLELISM,
                    help=f"workers over the resources, like -parallelism (default {DEFAULT_PARALLELISM})")
    ap.add_argument("--refresh", choices=["true", "false"], default="true",
                    help="refresh every resource before the destroy, like -refresh (default true)")
    args = ap.parse_args()
    if args.parallelism < 1:
        ap.error("--parallelism must be at least 1")

    with open(args.fleet) as f:
        fleet = json.load(f)
    edas = Edas(args.endpoint, args.access_key_id, args.access_key_secret)
    peer = Peer(edas, fleet, args.parallelism)
    phase = peer.run(refresh=args.refresh == "true")
    total = peer.now()

    rs = peer.resources
    n = len(rs)
    done = sorted(r.finished for r in rs if r.outcome == DONE)
    failed = [r for r in rs if r.outcome == FAILED_OUTCOME]
    left = [r for r in rs if r.left_over()]
    by_code = {}
    for r in failed:
        by_code[r.error["code"]] = by_code.get(r.error["code"], 0) + 1
    polled = [r.polls for r in rs if r.change_order]
    per_app = sorted(r.finished for r in rs if r.finished is not None)
    calls = dict(sorted(edas.calls.items()))
    result = {
        "apps": n,
        "ok": len(done) == n,
        "seconds": total,
        "failedIn": phase["failedIn"],
        "reason": phase["reason"],
        "secondsTo50pct": milestone(done, n, 0.5),
        "secondsTo90pct": milestone(done, n, 0.9),
        "secondsTo100pct": milestone(done, n, 1.0),
        "done": len(done),
        "refresh": phase["refresh"],
        "callsByAction": {a: c["sent"] for a, c in calls.items()},
        "callOutcomes": calls,
        "throttled": sum(c["throttled"] for c in calls.values()),
        "throttledByAction": {a: c["throttled"] for a, c in calls.items() if c["throttled"]},
        "failedResources": {
            "count": len(failed),
            "byCode": dict(sorted(by_code.items())),
            "examples": [{"appId": r.app_id, **r.error} for r in failed[:10]],
        },
        "leftOverOrders": {
            "count": len(left),
            "orders": [{"appId": r.app_id, "changeOrderId": r.change_order, "lastStatus": r.last_status} for r in left],
        },
        "pollsPerOrder": round(sum(polled) / len(polled), 3) if polled else 0,
        # Finish times (since the run started) of the resources that finished, done or failed.
        "perAppSeconds": {
            "min": per_app[0] if per_app else None,
            "median": per_app[len(per_app) // 2] if per_app else None,
            "max": per_app[-1] if per_app else None,
        },
        "params": {
            "parallelism": args.parallelism,
            "refresh": args.refresh == "true",
            "delaySeconds": DELAY_S,
            "minTimeoutSeconds": MIN_TIMEOUT_S,
            "maxWaitSeconds": MAX_WAIT_S,
            "timeoutSeconds": TIMEOUT_S,
            "pending": sorted(PENDING),
            "target": sorted(TARGET),
            "failStates": sorted(FAILED),
            "retries": 0,
        },
        "pollSchedule": "GetChangeOrderInfo 5 s after ScaleIn, then +3 s, +6 s, +10 s, +10 s, ... (StateChangeConf Delay 5 s, MinTimeout 3 s)",
        # Kept for older readers of this file (bench/run.py before issue 13).
        "failureCount": len(failed),
        "failures": [{"appId": r.app_id, "error": f"{r.error['action']}: {r.error['code']}: {r.error['message']}"[:300]} for r in failed[:20]],
        "resources": [r.summary() for r in rs],
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in (
        "apps", "ok", "seconds", "reason", "secondsTo50pct", "secondsTo90pct", "secondsTo100pct",
        "callsByAction", "throttled")} | {"failed": len(failed), "leftOver": len(left)}))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
