#!/usr/bin/env python3
"""Fleet benchmark: N EdasAppMembership resources on a real kube-apiserver, the release
operator against the EDAS simulator at its documented rate limits, and a peer (bench/peer.py:
`tofu destroy` of N `alicloud_edas_application_scale` resources as the real Terraform provider
runs it, with the official Python SDK) on its own simulator with the same fleet.

Run it through hack/bench.sh (which builds the release binary, starts the control plane and
the SDK venv). By hand:

  bench/run.py --bin BIN --cp-env CP_DIR/env --sdk-python VENV_PY --workdir DIR 50 200
  bench/run.py ... --rate-limit-share 1 50 100   # rows n50-share1, n100-share1
  bench/run.py --report          # only regenerate BENCHMARKS.md from bench/results/*.json

The replacement fleet (issue 12, `--replace`): N apps x k running hosts + 1 free ECU each, in
one (or `--clusters`) shared clusterIds; each resource declares its hosts by instanceId with one
replaced by the free ECU, so the operator must ScaleOut, see the new ECC healthy, then ScaleIn.
Stored as bench/results/replace-n<N>.json; its own bound (lower_bound_replace); no peer. Checks:
0 throttled, 0 duplicate ScaleOut/ScaleIn attempts, every app's ScaleIn after its ScaleOut order
finished and a QueryApplicationStatus after that finish, the fleet as declared.

  bench/run.py ... --replace 20            # smoke; hack/bench.sh --replace 200 1000

Per N (removal fleet): a fresh simulator with N apps x 2 ECCs (1 declared: one change order of one instance
per app), the documented limits, `secondsPerInstance` D, one access key; N resources applied
in one multi-document `kubectl apply`; the operator started with the limited identity; the
resources polled until all are Ready=True/Converged; then a steady-state window with the
operator still running. What it measured goes to bench/results/n<N>.json and BENCHMARKS.md is
regenerated from all results there. Exit status 1 when a hard check failed (the operator was
throttled, steady state over budget, resources not Ready, fleet not as declared, the peer
produced no result). The peer failing (it does above N = 100, as the real provider does) is a
measured outcome, not a failed check.

The report reads every result file, also older ones without the newer fields (the share, the
provider-like peer's figures): what a file lacks shows as "–", and the bounds are recomputed
from each file's parameters.

Python 3 standard library only (the peer runs in the SDK venv).
"""

import argparse
import datetime
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"

ACCESS_KEY_ID = "bench-access-key"
ACCESS_KEY_SECRET = "bench-secret-0f3e9a"
NAMESPACE_PREFIX = "bench"

# Documented per-access-key limits (docs/api.md §8) the bound uses; the simulator enforces the
# same ones (src/edas/mod.rs documented_limit_per_minute) when the state has no `limits`.
LIMIT_QAS = 100  # QueryApplicationStatus, per minute
LIMIT_GCOI = 100  # GetChangeOrderInfo, per minute
LIMIT_SCALE_OUT = 40  # ScaleOutApplication, per minute
LIMIT_LIST_SCALE_OUT_ECU = 20  # ListScaleOutEcu, per minute
LIMIT_LIST_DEPLOY_GROUP = 200  # ListDeployGroup, per minute
# The share of the QueryApplicationStatus limit periodic resyncs may use in steady state
# (src/controller/mod.rs RESYNC_BUDGET_SHARE).
STEADY_SHARE = 0.5
# The share of each limit the operator allows itself unless --rate-limit-share says otherwise
# (src/cli.rs, the operator's --rate-limit-share default).
DEFAULT_SHARE = 0.9
# The peer's defaults (bench/peer.py): OpenTofu's -parallelism, and a refresh before destroy.
PEER_PARALLELISM = 10


def log(msg):
    print(f"[bench {datetime.datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- helpers


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited ({proc.returncode}) before listening on {port}")
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def http_json(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def http_text(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def stop(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_stats(pid):
    """Peak RSS (VmHWM, MiB), current RSS (MiB) and CPU seconds (utime+stime) of a live pid."""
    hwm = rss = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after "pid (comm)": state is field 3, utime 14, stime 15 (1-based) -> 11, 12 here
    ticks = int(fields[11]) + int(fields[12])
    return {
        "peakRssMiB": round(hwm, 1),
        "rssMiB": round(rss, 1),
        "cpuSeconds": round(ticks / os.sysconf("SC_CLK_TCK"), 2),
    }


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(cp_env):
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpuModel": model,
        "memGiB": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "k8sVersion": cp_env.get("K8S_VERSION", ""),
        "etcdVersion": cp_env.get("ETCD_VERSION", ""),
        "python": platform.python_version(),
    }


def source_info():
    # The last commit that changed the operator's source (what the release binary is built from).
    rev = sh(["git", "-C", str(REPO), "log", "-1", "--format=%h", "--abbrev=12", "--", "src", "Cargo.toml", "Cargo.lock"])
    dirty = sh(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "Cargo.lock"])
    return {"gitRev": rev, "srcModified": bool(dirty)}


def load_env(path):
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        k, _, v = line[len("export "):].partition("=")
        if len(v) >= 2 and v[0] == "'" and v[-1] == "'":
            v = v[1:-1].replace("'\\''", "'")
        env[k] = v
    return env


# ----------------------------------------------------------------------------- the fleet


def app_id(i):
    return f"b7e1c0de-0000-4000-8000-{i:012d}"


def fleet_doc(n, seconds_per_instance, hosts=2, free=0, clusters=None):
    """N apps x `hosts` running ECCs and `free` more ECUs each (documented limits, no `limits`;
    one access key); with `clusters`, the apps share that many clusterIds."""
    apps = []
    for i in range(n):
        a = app_id(i)
        grp = f"grp-{i}"
        ip = f"10.{i // 250}.{i % 250}"
        app = {
            "appId": a,
            "regionId": "cn-hangzhou",
            "name": f"bench-app-{i}",
            "groups": [{"groupId": grp, "groupName": "_DEFAULT_GROUP"}],
            "ecus": [
                {"ecuId": f"ecu-{i}-{j}", "instanceId": f"i-bench-{i}-{j}", "ip": f"{ip}.{j}", "groupId": grp}
                for j in range(1, hosts + free + 1)
            ],
            "eccs": [{"eccId": f"ecc-{i}-{j}", "ecuId": f"ecu-{i}-{j}", "groupId": grp} for j in range(1, hosts + 1)],
        }
        if clusters:
            app["clusterId"] = replace_cluster_id(i, clusters)
        apps.append(app)
    return {
        "accessKeys": [{"id": ACCESS_KEY_ID, "secret": ACCESS_KEY_SECRET}],
        "apps": apps,
        "changeOrders": {"secondsPerInstance": seconds_per_instance, "batchType": "Automatic", "batchCount": 1},
    }


def memberships(ns, n, members=lambda i: [{"eccId": f"ecc-{i}-1"}]):
    """One resource per app declaring `members(i)` (default: its first ECC)."""
    docs = []
    for i in range(n):
        docs.append(json.dumps({
            "apiVersion": "edas.operators.dev/v1alpha1",
            "kind": "EdasAppMembership",
            "metadata": {"name": f"app-{i:04d}", "namespace": ns},
            "spec": {
                "appId": app_id(i),
                "regionId": "cn-hangzhou",
                "members": members(i),
                "credentialsSecretRef": {"name": "edas-credentials"},
            },
        }))
    return "\n---\n".join(docs) + "\n"


class Sim:
    def __init__(self, bin_path, doc, workdir, name):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        state = workdir / f"{name}-state.json"
        state.write_text(json.dumps(doc))
        self.log = open(workdir / f"{name}-sim.log", "w")
        self.proc = subprocess.Popen(
            [bin_path, "simulate", "--listen", f"127.0.0.1:{self.port}", "--state", str(state)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        wait_port(self.port, self.proc)

    def calls(self):
        return http_json(self.url + "/_sim/calls", timeout=120)

    def state(self):
        return http_json(self.url + "/_sim/state", timeout=120)

    def stop(self):
        stop(self.proc)
        self.log.close()


def fleet_as_declared(state, n):
    """Every app runs exactly its declared ECC; every change order succeeded."""
    bad = []
    for a in state["apps"]:
        i = int(a["appId"].rsplit("-", 1)[1])
        eccs = sorted(e["eccId"] for e in a["eccs"])
        if eccs != [f"ecc-{i}-1"]:
            bad.append(f"{a['appId']}: {eccs}")
    unfinished = [c["changeOrderId"] for c in state.get("changeOrders", []) if c["status"] != 2]
    return {
        "apps": len(state["apps"]),
        "appsAsDeclared": len(state["apps"]) - len(bad),
        "changeOrders": len(state.get("changeOrders", [])),
        "changeOrdersNotSucceeded": len(unfinished),
        "ok": not bad and not unfinished and len(state["apps"]) == n,
        "examples": bad[:5],
    }


# ----------------------------------------------------------------------------- the replacement fleet (issue 12)
#
# N apps, each running k hosts (ECCs ecc-<i>-1..k on ECUs ecu-<i>-1..k) with one more ECU of the
# same cluster free (ecu-<i>-(k+1)); the apps share `clusters` clusterIds (app i in cluster
# i mod clusters), so one ListScaleOutEcu per cluster can serve all of its apps. Each resource
# declares its hosts by instanceId with the k-th replaced by the free one: the operator must
# ScaleOut onto ecu-<i>-(k+1), see the new ECC healthy in a QueryApplicationStatus, then ScaleIn
# ecc-<i>-k.


def replace_cluster_id(i, clusters):
    return f"cluster-bench-{i % clusters}"


def replace_declared_hosts(hosts):
    """Host numbers each resource declares: 1..k-1 kept, k replaced by k+1."""
    return [*range(1, hosts), hosts + 1]


def replace_memberships(ns, n, hosts):
    return memberships(ns, n, lambda i: [{"instanceId": f"i-bench-{i}-{j}"} for j in replace_declared_hosts(hosts)])


def fleet_as_replaced(state, n, hosts):
    """Every app runs exactly its declared hosts, all healthy (AppState 7, TaskState 2); every
    change order succeeded; each app had exactly one ScaleOut and one ScaleIn order."""
    bad, unhealthy = [], []
    for a in state["apps"]:
        i = int(a["appId"].rsplit("-", 1)[1])
        want = sorted(f"ecu-{i}-{j}" for j in replace_declared_hosts(hosts))
        got = sorted(e["ecuId"] for e in a["eccs"])
        if got != want:
            bad.append(f"{a['appId']}: runs on {got}")
        unhealthy += [f"{a['appId']}/{e['eccId']}" for e in a["eccs"] if (e["appState"], e["taskState"]) != (7, 2)]
    orders = state.get("changeOrders", [])
    unfinished = [c["changeOrderId"] for c in orders if c["status"] != 2]
    per_app = {}
    for o in orders:
        per_app.setdefault(o["appId"], []).append(o["coType"])
    odd = [f"{a}: {sorted(t)}" for a, t in per_app.items() if sorted(t) != ["CoScaleIn", "CoScaleOut"]]
    return {
        "apps": len(state["apps"]),
        "appsAsDeclared": len(state["apps"]) - len(bad),
        "unhealthyEccs": len(unhealthy),
        "changeOrders": len(orders),
        "changeOrdersByType": {t: sum(1 for o in orders if o["coType"] == t) for t in sorted({o["coType"] for o in orders})},
        "changeOrdersNotSucceeded": len(unfinished),
        "appsWithoutOneOrderEachWay": len(odd) + (n - len(per_app)),
        "ok": not bad and not unhealthy and not unfinished and not odd and len(per_app) == n and len(state["apps"]) == n,
        "examples": (bad + unhealthy + odd)[:5],
    }


def _by_app(calls, orders):
    """Calls grouped by app: AppId, or the app of the change order a poll names."""
    order_app = {o["changeOrderId"]: o["appId"] for o in orders}
    by_app = {}
    for c in calls:
        p = c.get("params", {})
        a = p.get("AppId") or order_app.get(p.get("ChangeOrderId", ""))
        if a:
            by_app.setdefault(a, []).append(c)
    for cs in by_app.values():
        cs.sort(key=lambda c: c["at"])
    return by_app


def _ok(c):
    return c.get("code") == 200 and c.get("httpStatus") == 200


def replacement_report(calls, state, n, hosts, t0_ms):
    """From the whole call log and the orders' own times: duplicate mutation attempts, the
    make-before-break order of every app, and where each app's time went.

    Duplicates: every ScaleOutApplication attempt beyond the first that names the same ECU, and
    every ScaleInApplication attempt beyond the first that names the same ECC, whatever EDAS
    answered (accepted, refused, throttled, failed); this fleet has no faults, so any second
    attempt is a re-send.

    Order, per app: its first ScaleInApplication attempt comes after (a) a CoScaleOut order of
    the app that succeeded (status 2) and finished, and (b) a successful QueryApplicationStatus
    of the app made at or after that finish (the read that can have seen the new ECC healthy);
    and it names only the ECC of the replaced host.
    """
    orders = state.get("changeOrders", [])
    by_app = _by_app(calls, orders)
    orders_by_app = {}
    for o in orders:
        orders_by_app.setdefault(o["appId"], []).append(o)
    attempts_ecu, attempts_ecc = {}, {}
    for c in calls:
        if c.get("action") == "ScaleOutApplication":
            for u in sorted(set(c.get("ecuIds") or [])):
                attempts_ecu[u] = attempts_ecu.get(u, 0) + 1
        elif c.get("action") == "ScaleInApplication":
            for e in sorted(set(c.get("eccIds") or [])):
                attempts_ecc[e] = attempts_ecc.get(e, 0) + 1
    dup_out = {u: k - 1 for u, k in attempts_ecu.items() if k > 1}
    dup_in = {e: k - 1 for e, k in attempts_ecc.items() if k > 1}

    violations, no_scale_in = [], 0
    parts = {k: [] for k in (
        "startToFirstQuery", "firstQueryToScaleOut", "scaleOutRun", "scaleOutDoneToHealthyRead",
        "healthyReadToScaleIn", "scaleInRun", "scaleInDoneToSeen", "scaleOutSentToScaleInDone", "startToScaleInSeen",
    )}
    polls_out, polls_in, qas_per_app, ldg_per_app = [], [], [], []
    for i in range(n):
        a = app_id(i)
        cs = by_app.get(a, [])
        qas = [c["at"] for c in cs if c["action"] == "QueryApplicationStatus" and _ok(c)]
        qas_per_app.append(sum(1 for c in cs if c["action"] == "QueryApplicationStatus"))
        ldg_per_app.append(sum(1 for c in cs if c["action"] == "ListDeployGroup"))
        sout = [c for c in cs if c["action"] == "ScaleOutApplication"]
        sin = [c for c in cs if c["action"] == "ScaleInApplication"]
        os_ = sorted(orders_by_app.get(a, []), key=lambda o: o["createdAt"])
        co_out = [o for o in os_ if o["coType"] == "CoScaleOut"]
        co_in = [o for o in os_ if o["coType"] == "CoScaleIn"]
        if not sin:
            no_scale_in += 1
            continue
        t_si = sin[0]["at"]
        done_out = [o for o in co_out if o["status"] == 2 and o.get("finishedAt") is not None and o["finishedAt"] <= t_si]
        why = []
        if not done_out:
            why.append("no succeeded ScaleOut order had finished")
        else:
            fin = max(o["finishedAt"] for o in done_out)
            if not any(fin <= q < t_si for q in qas):
                why.append("no QueryApplicationStatus between the ScaleOut's finish and the ScaleIn")
        allowed = {f"ecc-{i}-{hosts}"}
        wrong = sorted({e for c in sin for e in (c.get("eccIds") or [])} - allowed)
        if wrong:
            why.append(f"ScaleIn named {wrong}")
        if why:
            violations.append(f"{a}: " + "; ".join(why))
        # Where the time went (apps with both orders finished).
        if not (qas and sout and co_out and co_in and co_out[0].get("finishedAt") and co_in[0].get("finishedAt")):
            continue
        o_out, o_in = co_out[0], co_in[0]
        t_so = sout[0]["at"]
        parts["startToFirstQuery"].append(qas[0] - t0_ms)
        parts["firstQueryToScaleOut"].append(t_so - qas[0])
        parts["scaleOutRun"].append(o_out["finishedAt"] - o_out["createdAt"])
        healthy = [q for q in qas if q >= o_out["finishedAt"]]
        if healthy:
            parts["scaleOutDoneToHealthyRead"].append(healthy[0] - o_out["finishedAt"])
            if healthy[0] <= t_si:
                parts["healthyReadToScaleIn"].append(t_si - healthy[0])
        parts["scaleInRun"].append(o_in["finishedAt"] - o_in["createdAt"])
        parts["scaleOutSentToScaleInDone"].append(o_in["finishedAt"] - t_so)
        polls = {o["changeOrderId"]: [c["at"] for c in cs if c["action"] == "GetChangeOrderInfo"
                                      and c["params"].get("ChangeOrderId") == o["changeOrderId"]] for o in (o_out, o_in)}
        polls_out.append(len(polls[o_out["changeOrderId"]]))
        polls_in.append(len(polls[o_in["changeOrderId"]]))
        seen = [t for t in polls[o_in["changeOrderId"]] if t >= o_in["finishedAt"]]
        if seen:
            parts["scaleInDoneToSeen"].append(seen[0] - o_in["finishedAt"])
            parts["startToScaleInSeen"].append(seen[0] - t0_ms)
    tl = {k: {"median": pct(v, 0.5), "p90": pct(v, 0.9), "max": pct(v, 1.0)} for k, v in parts.items()}
    mean = lambda v: round(sum(v) / len(v), 2) if v else None  # noqa: E731
    tl["pollsPerScaleOut"] = {"mean": mean(polls_out), "max": max(polls_out, default=None)}
    tl["pollsPerScaleIn"] = {"mean": mean(polls_in), "max": max(polls_in, default=None)}
    tl["apps"] = len(parts["scaleOutRun"])
    lse = [c for c in calls if c.get("action") == "ListScaleOutEcu"]
    lse_by_cluster = {}
    for c in lse:
        k = c.get("params", {}).get("ClusterId") or ("AppId " + c.get("params", {}).get("AppId", "?"))
        lse_by_cluster[k] = lse_by_cluster.get(k, 0) + 1
    return {
        "duplicateScaleOutAttempts": sum(dup_out.values()),
        "duplicateScaleInAttempts": sum(dup_in.values()),
        "duplicateExamples": [f"ScaleOut {u} x{k + 1}" for u, k in list(dup_out.items())[:3]]
                             + [f"ScaleIn {e} x{k + 1}" for e, k in list(dup_in.items())[:3]],
        "appsChecked": n - no_scale_in,
        "appsWithoutScaleIn": no_scale_in,
        "orderViolations": len(violations),
        "orderViolationExamples": violations[:5],
        "queryApplicationStatusPerApp": {"mean": mean(qas_per_app), "max": max(qas_per_app, default=None)},
        "listDeployGroupPerApp": {"mean": mean(ldg_per_app), "max": max(ldg_per_app, default=None)},
        "listScaleOutEcuByCluster": dict(sorted(lse_by_cluster.items())),
        "timeline": tl,
    }


def lower_bound_replace(n, seconds_per_instance, share=DEFAULT_SHARE, clusters=1):
    """Seconds: the least time a client that allows itself `share` of each documented limit
    needs to replace one host in each of N apps, add before remove (see BENCHMARKS.md).

    Per app, in this order: a QueryApplicationStatus to plan (what runs), a ListDeployGroup
    (ClusterId and the default group), the cluster's ListScaleOutEcu (once per cluster: which
    ECU the new member is), ScaleOutApplication, its order (t_co), a QueryApplicationStatus
    that sees the new ECC healthy, ScaleInApplication (no documented limit), its order (t_co),
    and a GetChangeOrderInfo that sees it finished (Ready rests on the order's own outcome).
    At least one GetChangeOrderInfo per order, so 2 per app. Every call of an operation limited
    to L' = per_window(L, share) in the gateway's sliding 60 s window: the k-th such call no
    earlier than floor((k-1)/L') minutes. After each call, what its app still has to do on its
    own path (orders cannot overlap: one order at a time per app, and the removal waits for
    the addition):
      ScaleOut        floor((N-1)/Ls')*60 + 2 t_co   (the last ScaleOut, then both orders)
      QAS, all 2N     floor((2N-1)/Lq')*60 + t_co    (the last read is some app's healthy read)
      QAS, planning   floor((N-1)/Lq')*60 + 2 t_co   (the last planning read, then both orders)
      GCOI            floor((2N-1)/Lg')*60           (the last poll sees the last order end)
      ListDeployGroup floor((N-1)/Ld')*60 + 2 t_co
      ListScaleOutEcu floor((C-1)/Le')*60 + 2 t_co   (C clusters)
    The bound is the largest; the binding one is named.
    """
    t_co = 1.5 * seconds_per_instance
    ls, lq, lg = (per_window(x, share) for x in (LIMIT_SCALE_OUT, LIMIT_QAS, LIMIT_GCOI))
    ld, le = per_window(LIMIT_LIST_DEPLOY_GROUP, share), per_window(LIMIT_LIST_SCALE_OUT_ECU, share)
    parts = {
        "ScaleOutApplication": (n - 1) // ls * 60 + 2 * t_co,
        "QueryApplicationStatus": max((2 * n - 1) // lq * 60 + t_co, (n - 1) // lq * 60 + 2 * t_co),
        "GetChangeOrderInfo": (2 * n - 1) // lg * 60,
        "ListDeployGroup": (n - 1) // ld * 60 + 2 * t_co,
        "ListScaleOutEcu": (clusters - 1) // le * 60 + 2 * t_co,
    }
    binding = max(parts, key=lambda k: parts[k])
    return {
        "orderSeconds": t_co,
        "share": share,
        "perWindow": {"ScaleOutApplication": ls, "QueryApplicationStatus": lq, "GetChangeOrderInfo": lg,
                      "ListDeployGroup": ld, "ListScaleOutEcu": le},
        "byOperationSeconds": {k: round(v, 2) for k, v in parts.items()},
        "binding": binding,
        "boundSeconds": round(parts[binding], 2),
    }


def analyse_calls(calls, t_from_ms=None, t_to_ms=None):
    """Calls by action, throttled and other failures, peak per 60 s window per action."""
    sel = [c for c in calls if (t_from_ms is None or c["at"] >= t_from_ms) and (t_to_ms is None or c["at"] < t_to_ms)]
    by_action, throttled, failed = {}, {}, {}
    times = {}
    for c in sel:
        a = c.get("action") or "?"
        by_action[a] = by_action.get(a, 0) + 1
        code = c.get("code")
        if isinstance(code, str) and code.startswith("Throttling"):
            throttled[a] = throttled.get(a, 0) + 1
        elif c.get("httpStatus") != 200 or code != 200:
            failed[a] = failed.get(a, 0) + 1
        times.setdefault(a, []).append(c["at"])
    peak60 = {}
    for a, ts in times.items():
        ts.sort()
        best, j = 0, 0
        for i, t in enumerate(ts):
            while ts[j] <= t - 60_000:
                j += 1
            best = max(best, i - j + 1)
        peak60[a] = best
    return {
        "total": len(sel),
        "byAction": dict(sorted(by_action.items())),
        "throttled": sum(throttled.values()),
        "throttledByAction": throttled,
        "failed": sum(failed.values()),
        "failedByAction": failed,
        "peakPer60s": dict(sorted(peak60.items())),
        "firstAtMs": min((c["at"] for c in sel), default=None),
        "lastAtMs": max((c["at"] for c in sel), default=None),
    }


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))] / 1000, 2)


def timeline(calls, state, t0_ms):
    """Where each app's time went, from the call log and the orders' own times (seconds,
    median / p90 / max over apps): start -> first QueryApplicationStatus; that -> ScaleIn;
    order run time; order finished -> first poll that could see it; polls per order;
    that poll -> the QueryApplicationStatus after."""
    orders = {c["changeOrderId"]: c for c in state.get("changeOrders", [])}
    by_app = {}
    for c in calls:
        p = c.get("params", {})
        app = p.get("AppId") or orders.get(p.get("ChangeOrderId", ""), {}).get("appId")
        if app:
            by_app.setdefault(app, []).append(c)
    order_of_app = {o["appId"]: o for o in orders.values()}
    parts = {k: [] for k in ("startToFirstQuery", "queryToScaleIn", "orderRun", "doneToSeen", "seenToQueryAfter", "polls")}
    for app, cs in by_app.items():
        cs.sort(key=lambda c: c["at"])
        o = order_of_app.get(app)
        qas = [c["at"] for c in cs if c["action"] == "QueryApplicationStatus" and c.get("code") == 200]
        sin = [c["at"] for c in cs if c["action"] == "ScaleInApplication" and c.get("code") == 200]
        polls = [c["at"] for c in cs if c["action"] == "GetChangeOrderInfo" and c.get("code") == 200]
        if not (o and qas and sin and o.get("finishedAt")):
            continue
        parts["startToFirstQuery"].append(qas[0] - t0_ms)
        parts["queryToScaleIn"].append(sin[0] - max([q for q in qas if q <= sin[0]] or [qas[0]]))
        parts["orderRun"].append(o["finishedAt"] - o["createdAt"])
        seen = [t for t in polls if t >= o["finishedAt"]]
        if seen:
            parts["doneToSeen"].append(seen[0] - o["finishedAt"])
            after = [q for q in qas if q >= seen[0]]
            if after:
                parts["seenToQueryAfter"].append(after[0] - seen[0])
        parts["polls"].append(len([t for t in polls if t >= o["createdAt"]]) * 1000)
    out = {}
    for k, v in parts.items():
        if k == "polls":
            out["pollsPerOrder"] = {"mean": round(sum(v) / 1000 / max(len(v), 1), 2), "max": pct(v, 1.0)}
        else:
            out[k] = {"median": pct(v, 0.5), "p90": pct(v, 0.9), "max": pct(v, 1.0)}
    out["apps"] = len(parts["orderRun"])
    return out


def per_window(limit, share):
    """Calls the operator allows itself in any 60 s for a per-minute limit: share x limit,
    whole calls, at least one (the epsilon keeps 0.29 x 100 at 29, not 28)."""
    return max(1, math.floor(share * limit + 1e-9))


def lower_bound(n, seconds_per_instance, share=DEFAULT_SHARE):
    """Seconds: the least time a client needs for the fleet (see BENCHMARKS.md).

    t_co: one single-instance order in the simulator sits at status 0 for D/2, then its one
    task runs D, so it takes 1.5 D.

    New window bound (issue 13), for a client that allows itself `share` of each limit in
    the gateway's sliding 60 s window (Lq' = per_window(L_q, share), Lg' likewise) and needs
    one QueryApplicationStatus per app (the observation before its scale-in; Ready rests on
    the order's own outcome): the k-th read goes out no earlier than floor((k-1)/Lq')
    minutes, the k-th poll no earlier than floor((k-1)/Lg') minutes, and the poll that sees
    an order finished no earlier than that order's end, so
      max(floor((N-1)/Lq') * 60 + t_co, floor((N-1)/Lg') * 60).
    At share 1 it is the bound for any client.

    Old bounds (issue 7; they assumed a second read per app after its order):
    rate bound max(2N/L_q, N/L_q + t_co/60, N/L_g) minutes with the limits as sustained
    rates; window bound the same with the k-th call no earlier than floor((k-1)/L) minutes.
    """
    t_co = 1.5 * seconds_per_instance
    rate = max(2 * n / LIMIT_QAS * 60, n / LIMIT_QAS * 60 + t_co, n / LIMIT_GCOI * 60)
    window = max(
        math.floor((2 * n - 1) / LIMIT_QAS) * 60,
        math.floor((n - 1) / LIMIT_QAS) * 60 + t_co,
        math.floor((n - 1) / LIMIT_GCOI) * 60,
    )

    def new_window(s):
        lq, lg = per_window(LIMIT_QAS, s), per_window(LIMIT_GCOI, s)
        return max((n - 1) // lq * 60 + t_co, (n - 1) // lg * 60)

    return {
        "orderSeconds": t_co,
        "rateBoundSeconds": round(rate, 2),
        "windowBoundSeconds": round(window, 2),
        "share": share,
        "newWindowBoundSeconds": round(new_window(share), 2),
        "newWindowBoundShare1Seconds": round(new_window(1.0), 2),
    }


# ----------------------------------------------------------------------------- kube


class Kube:
    def __init__(self, env):
        self.kubectl = env["KUBECTL"]
        self.admin = env["ADMIN_KUBECONFIG"]
        self.operator = env["OPERATOR_KUBECONFIG"]

    def run(self, args, stdin=None, check=True, timeout=900):
        p = subprocess.run(
            [self.kubectl, "--kubeconfig", self.admin, *args],
            input=stdin, capture_output=True, text=True, timeout=timeout,
        )
        if check and p.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:4])} failed: {p.stderr.strip()[:2000]}")
        return p.stdout

    def setup(self):
        self.run(["apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds")])
        self.run(["wait", "--for=condition=Established", "--timeout=60s", "crd/edasappmemberships.edas.operators.dev"])
        for f in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
            self.run(["apply", "-f", str(REPO / "deploy" / f)])

    def namespace(self, ns):
        self.run(["apply", "-f", "-"], stdin=f"""apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: edas-credentials, namespace: {ns}}}
stringData:
  ALIBABA_CLOUD_ACCESS_KEY_ID: {ACCESS_KEY_ID}
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: {ACCESS_KEY_SECRET}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: edas-operator-credentials-reader, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edas-operator-credentials-reader}}
subjects: [{{kind: ServiceAccount, name: edas-operator, namespace: edas-system}}]
""")

    READY_JSONPATH = (
        '{range .items[*]}{.metadata.name}{"\\t"}'
        '{.status.conditions[?(@.type=="Ready")].status}{"\\t"}'
        '{.status.conditions[?(@.type=="Ready")].reason}{"\\n"}{end}'
    )

    def ready_count(self, ns):
        out = self.run(["get", "edasappmemberships", "-n", ns, "-o", "jsonpath=" + self.READY_JSONPATH], timeout=120)
        total = ready = 0
        reasons = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            total += 1
            if parts[1] == "True" and parts[2] == "Converged":
                ready += 1
            else:
                key = f"{parts[1] or '-'}/{parts[2] or '-'}"
                reasons[key] = reasons.get(key, 0) + 1
        return total, ready, reasons


def condition_summary(kube, ns, path):
    """For a run that did not converge: the resources' conditions by type/status/reason, with
    an example message each (the whole list goes to `path`)."""
    try:
        out = kube.run(["get", "edasappmemberships", "-n", ns, "-o", "json"], timeout=300)
    except (RuntimeError, subprocess.SubprocessError) as e:
        return {"error": str(e)[:500]}
    path.write_text(out)
    summary = {}
    for item in json.loads(out).get("items", []):
        for c in item.get("status", {}).get("conditions", []):
            key = f"{c.get('type')}={c.get('status')}/{c.get('reason')}"
            entry = summary.setdefault(key, {"count": 0, "example": f"{item['metadata']['name']}: {c.get('message', '')}"[:400]})
            entry["count"] += 1
    return dict(sorted(summary.items()))


# Why the replacement fleet has no peer run (goes into the result and the report).
REPLACE_NO_PEER = (
    "no peer for a replacement: Terraform's alicloud_edas_application_scale holds its instance list as a "
    "ForceNew field and is replaced as a whole, and nothing orders the add before the remove"
)


# ----------------------------------------------------------------------------- one N


def run_peer(args, n, workdir):
    """Start the peer on its own simulator; returns (sim, process, paths)."""
    doc = fleet_doc(n, args.seconds_per_instance)
    sim = Sim(args.bin, doc, workdir, f"peer-n{n}")
    fleet = workdir / f"peer-n{n}-fleet.json"
    # One resource per app as Terraform state holds it: the ECU it scaled out and that ECU's ECC
    # (the refresh re-derives the ECC from the ECU, as the provider's Read does).
    fleet.write_text(json.dumps([{"appId": app_id(i), "eccId": f"ecc-{i}-2", "ecuId": f"ecu-{i}-2"} for i in range(n)]))
    out = workdir / f"peer-n{n}-result.json"
    plog = open(workdir / f"peer-n{n}.log", "w")
    proc = subprocess.Popen(
        [args.sdk_python, str(REPO / "bench" / "peer.py"), "--endpoint", f"127.0.0.1:{sim.port}",
         "--access-key-id", ACCESS_KEY_ID, "--access-key-secret", ACCESS_KEY_SECRET,
         "--fleet", str(fleet), "--out", str(out),
         "--parallelism", str(args.peer_parallelism), "--refresh", args.peer_refresh],
        stdout=plog, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    return sim, proc, out, plog


def finish_peer(n, sim, proc, out, plog, timeout):
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
    plog.close()
    result = {"ran": True, "exitCode": proc.returncode}
    if out.exists():
        result.update(json.loads(out.read_text()))
        # Per-resource outcomes stay in the workdir copy (N entries); the summary comes along.
        result.pop("resources", None)
    calls = sim.calls()
    result["calls"] = analyse_calls(calls)
    result["fleet"] = fleet_as_declared(sim.state(), n)
    sim.stop()
    return result


def bench_one(args, kube, env, n, workdir):
    """One fleet size; every process it starts is stopped again, also on errors."""
    cleanup = []
    try:
        return _bench_one(args, kube, env, n, workdir, cleanup)
    finally:
        for fn in reversed(cleanup):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - best effort, report and go on
                log(f"cleanup: {e}")


def _bench_one(args, kube, env, n, workdir, cleanup):
    replace = args.replace
    share = args.rate_limit_share if args.rate_limit_share is not None else DEFAULT_SHARE
    res = {
        "n": n,
        "mode": "replace" if replace else "remove",
        "startedAt": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(env),
        "source": source_info(),
        "params": {
            "secondsPerInstance": args.seconds_per_instance,
            "eccsPerApp": 2,
            "declaredPerApp": 1,
            "limits": "documented (simulator default): QueryApplicationStatus 100/min, GetChangeOrderInfo 100/min, ListRecentChangeOrder and ScaleInApplication unlimited",
            "accessKeys": 1,
            "concurrency": args.concurrency,
            "resyncInterval": args.resync_interval,
            "rateLimitShare": args.rate_limit_share if args.rate_limit_share is not None else DEFAULT_SHARE,
            "rateLimitShareFlag": args.rate_limit_share is not None,
            "steadySeconds": args.steady_seconds,
            "pollSeconds": args.poll_seconds,
            "peerMode": args.peer,
            "peerParallelism": args.peer_parallelism,
            "peerRefresh": args.peer_refresh == "true",
        },
        "bound": lower_bound(n, args.seconds_per_instance, share),
    }
    if replace:
        res["params"].update({
            "eccsPerApp": args.hosts_per_app,
            "declaredPerApp": args.hosts_per_app,
            "freeEcusPerApp": 1,
            "replacedPerApp": 1,
            "clusters": args.clusters,
            "limits": "documented (simulator default): ScaleOutApplication 40/min, QueryApplicationStatus 100/min, "
                      "GetChangeOrderInfo 100/min, ListDeployGroup 200/min, ListScaleOutEcu 20/min, "
                      "ListRecentChangeOrder and ScaleInApplication unlimited",
            "peerMode": "skip",
        })
        res["bound"] = lower_bound_replace(n, args.seconds_per_instance, share, args.clusters)
    ns = f"{NAMESPACE_PREFIX}-{'r' if replace else ''}n{n}-{int(time.time()) % 100000}"
    name = f"operator-{'replace-' if replace else ''}n{n}"
    kube.namespace(ns)
    t = time.time()
    manifest = replace_memberships(ns, n, args.hosts_per_app) if replace else memberships(ns, n)
    kube.run(["apply", "--server-side", "-f", "-"], stdin=manifest)
    res["applySeconds"] = round(time.time() - t, 1)
    log(f"N={n}: {n} resources applied in namespace {ns} ({res['applySeconds']} s)")

    cleanup.append(lambda: kube.run(["delete", "edasappmemberships", "--all", "-n", ns, "--wait=false"], check=False))
    doc = (fleet_doc(n, args.seconds_per_instance, args.hosts_per_app, free=1, clusters=args.clusters) if replace
           else fleet_doc(n, args.seconds_per_instance))
    sim = Sim(args.bin, doc, workdir, name)
    cleanup.append(sim.stop)

    peer = None
    if args.peer == "parallel" and not replace:
        peer = run_peer(args, n, workdir)
        cleanup.append(lambda: (stop(peer[1]), peer[0].stop()))
        log(f"N={n}: peer started on its own simulator (runs alongside)")

    metrics_port = free_port()
    op_env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    op_env.update({"LOG_LEVEL": "info", "RUST_LOG": "info"})
    op_log = open(workdir / f"{name}.log", "w")
    cmd = [
        args.bin, "run", "--kubeconfig", env["OPERATOR_KUBECONFIG"], "--watch-namespaces", ns,
        "--edas-endpoint", sim.url, "--metrics-addr", f"127.0.0.1:{metrics_port}",
        "--concurrency", str(args.concurrency), "--resync-interval", args.resync_interval,
    ]
    share_flag = ""
    if args.rate_limit_share is not None:
        share_flag = f" --rate-limit-share {args.rate_limit_share:g}"
        cmd += ["--rate-limit-share", f"{args.rate_limit_share:g}"]
    res["operatorCommand"] = (
        f"edas-operator run --kubeconfig $OPERATOR_KUBECONFIG --watch-namespaces {ns} "
        f"--edas-endpoint http://127.0.0.1:SIM_PORT --metrics-addr 127.0.0.1:PORT "
        f"--concurrency {args.concurrency} --resync-interval {args.resync_interval}{share_flag}"
    )
    t0 = time.time()
    op = subprocess.Popen(cmd, stdout=op_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=op_env)
    cleanup.append(lambda: (stop(op), op_log.close()))
    if replace:
        bound_s, bound_name = res["bound"]["boundSeconds"], "replacement bound"
    else:
        bound_s, bound_name = res["bound"]["rateBoundSeconds"], "rate bound"
    timeout = args.ready_timeout or max(600.0, 3 * bound_s + 300)
    log(f"N={n}: operator pid {op.pid} started; {bound_name} {bound_s:.0f} s; waiting up to {timeout:.0f} s for all Ready")
    milestones, t_ready, last = {}, None, None
    try:
        while time.time() - t0 < timeout:
            if op.poll() is not None:
                raise RuntimeError(f"operator exited with {op.returncode}; see {op_log.name}")
            total, ready, reasons = kube.ready_count(ns)
            now = time.time()
            for frac in (0.5, 0.9):
                if ready >= frac * n and str(frac) not in milestones:
                    milestones[str(frac)] = round(now - t0, 1)
            if (ready, tuple(sorted(reasons.items()))) != last:
                last = (ready, tuple(sorted(reasons.items())))
                if ready == n or int(now - t0) % 20 < args.poll_seconds:
                    log(f"N={n}: t={now - t0:6.1f}s ready {ready}/{total} {reasons if reasons else ''}")
            if total == n and ready == n:
                t_ready = now
                break
            time.sleep(max(0.0, args.poll_seconds - (time.time() - now)))
        stats_ready = proc_stats(op.pid)
        res["operator"] = {
            "allReady": t_ready is not None,
            "seconds": round(t_ready - t0, 1) if t_ready else None,
            "secondsTo50pct": milestones.get("0.5"),
            "secondsTo90pct": milestones.get("0.9"),
            "atReady": stats_ready,
            "notReadyAtEnd": reasons,
        }
        if t_ready is None:
            res["operator"]["notReadyConditions"] = condition_summary(kube, ns, workdir / f"{name}-resources.json")
        calls = sim.calls()
        conv = analyse_calls(calls, t_to_ms=int((t_ready or time.time()) * 1000))
        res["operator"]["calls"] = conv
        if conv["lastAtMs"]:
            res["operator"]["lastCallSeconds"] = round(conv["lastAtMs"] / 1000 - t0, 1)
        if t_ready:
            log(f"N={n}: all Ready after {t_ready - t0:.1f} s; steady state for {args.steady_seconds} s")
            time.sleep(args.steady_seconds)
            stats_end = proc_stats(op.pid)
            calls = sim.calls()
            t_ms = int(t_ready * 1000)
            steady = analyse_calls(calls, t_from_ms=t_ms, t_to_ms=t_ms + args.steady_seconds * 1000)
            qas = steady["byAction"].get("QueryApplicationStatus", 0)
            per_hour = qas * 3600 / max(args.steady_seconds, 1)
            budget = STEADY_SHARE * LIMIT_QAS * 60
            res["steady"] = {
                "seconds": args.steady_seconds,
                "calls": steady,
                "qasPerHour": round(per_hour),
                "allCallsPerHour": round(steady["total"] * 3600 / max(args.steady_seconds, 1)),
                "budgetPerHour": round(budget),
                "operatorPlannedPerHour": round(STEADY_SHARE * LIMIT_QAS * res["params"]["rateLimitShare"] * 60),
                "withinBudget": per_hour <= budget and steady["throttled"] == 0,
                "peakQasPer60s": steady["peakPer60s"].get("QueryApplicationStatus", 0),
            }
            res["operator"]["end"] = stats_end
        else:
            res["operator"]["end"] = proc_stats(op.pid)
        res["operator"]["allCalls"] = analyse_calls(calls)
        try:
            metrics = http_text(f"http://127.0.0.1:{metrics_port}/metrics")
            throttled = 0.0
            for line in metrics.splitlines():
                if line.startswith("edas_operator_edas_calls_total{") and 'outcome="throttled"' in line:
                    throttled += float(line.rsplit(" ", 1)[1])
            res["operator"]["throttledPerOperatorMetrics"] = int(throttled)
        except OSError:
            pass
    finally:
        stop(op)
    sim_state = sim.state()
    if replace:
        res["operator"]["fleet"] = fleet_as_replaced(sim_state, n, args.hosts_per_app)
        res["operator"]["replacement"] = replacement_report(calls, sim_state, n, args.hosts_per_app, int(t0 * 1000))
    else:
        res["operator"]["fleet"] = fleet_as_declared(sim_state, n)
        res["operator"]["timeline"] = timeline(calls, sim_state, int(t0 * 1000))
    # Raw material for analysis stays with the logs (too big for bench/results).
    (workdir / f"{name}-calls.json").write_text(json.dumps(calls))
    (workdir / f"{name}-sim-state.json").write_text(json.dumps(sim_state))
    sim.stop()

    if replace:
        res["peer"] = {"ran": False, "reason": REPLACE_NO_PEER}
        return res
    if args.peer == "serial":
        log(f"N={n}: running the peer")
        peer = run_peer(args, n, workdir)
        cleanup.append(lambda: (stop(peer[1]), peer[0].stop()))
    if peer is not None:
        if peer[1].poll() is None:
            log(f"N={n}: waiting for the peer (about {math.ceil(n / args.peer_parallelism) * 5.1 / 60:.1f} min when it succeeds)")
        res["peer"] = finish_peer(n, *peer, timeout=n * 30 + 600)
        log(f"N={n}: peer {'done' if res['peer'].get('ok') else 'failed'} in {res['peer'].get('seconds')} s"
            f"{': ' + res['peer']['reason'] if res['peer'].get('reason') else ''}")
    else:
        res["peer"] = {"ran": False, "reason": args.peer_note or "--peer skip"}
    return res


def checks(res):
    """Hard checks: a failure makes run.py exit 1."""
    problems = []
    op = res.get("operator", {})
    if not op.get("allReady"):
        problems.append("not all resources became Ready/Converged")
    if op.get("allCalls", {}).get("throttled", 0):
        problems.append(f"operator was throttled {op['allCalls']['throttled']} time(s)")
    if not op.get("fleet", {}).get("ok"):
        problems.append("simulator fleet not as declared after the operator run")
    st = res.get("steady")
    if st and not st["withinBudget"]:
        problems.append(f"steady state {st['qasPerHour']} QueryApplicationStatus/h over the {st['budgetPerHour']}/h budget")
    # The peer may fail (it does whenever N exceeds what one minute's refresh burst may read):
    # that is a measured outcome. Only a peer that produced no result is a harness failure.
    rp = op.get("replacement")
    if rp:
        if rp["duplicateScaleOutAttempts"] or rp["duplicateScaleInAttempts"]:
            problems.append(f"duplicate mutation attempts: {rp['duplicateScaleOutAttempts']} ScaleOut, "
                            f"{rp['duplicateScaleInAttempts']} ScaleIn ({rp['duplicateExamples']})")
        if rp["orderViolations"]:
            problems.append(f"{rp['orderViolations']} app(s) had a ScaleIn before their ScaleOut was finished and read "
                            f"({rp['orderViolationExamples']})")
    peer = res.get("peer", {})
    if peer.get("ran") and "apps" not in peer:
        problems.append(f"the peer produced no result (exit {peer.get('exitCode')})")
    return problems


# ----------------------------------------------------------------------------- report


def fmt_s(s):
    if s is None:
        return "–"
    if s >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


def fmt_b(s):
    """A bound, exactly (bounds are whole minutes plus t_co)."""
    return "–" if s is None else f"{s:g} s"


def ratio(a, b):
    return a / b if a and b else None


def fmt_r(r, digits=2):
    return "–" if r is None else f"{r:.{digits}f}"


def duration_s(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for u in ("ms", "s", "m", "h"):
        if text.endswith(u) and text[: -len(u)].replace(".", "", 1).isdigit():
            return float(text[: -len(u)]) * units[u]
    return float(text)


def planned_per_hour(r):
    """Resyncs per hour the operator plans for N converged resources: N per resync interval,
    the interval stretched so resyncs use at most half its share (fleet_resync)."""
    n = r["n"]
    share = r["params"].get("rateLimitShare", DEFAULT_SHARE)
    interval = max(duration_s(r["params"]["resyncInterval"]), n * 60 / (STEADY_SHARE * LIMIT_QAS * share))
    return round(n * 3600 / interval)


# The real provider's figures against this simulator (issue 13; terraform-provider-alicloud
# v1.286.0 under OpenTofu 1.12.6, default -parallelism=10, this fleet at the documented limits),
# shown in the report as the reference the peer reproduces.
REAL_PROVIDER = [
    ("50", "26.8 s", "50 QueryApplicationStatus in 0.05 s, 50 ScaleIn, 50 GetChangeOrderInfo", "correct"),
    ("100", "51.9 s", "100 of each; exactly 100 per minute of both limited operations", "correct, no margin"),
    ("200", "1.4 s, exit 1", "100 refresh reads accepted, 100 throttled; no ScaleIn sent", "nothing done; a re-run fails the same way"),
    ("200, `-refresh=false`", "101.9 s, exit 1", "200 ScaleIn; 20 polls throttled",
     "fleet right, 20 resources stuck in state; re-running sends 20 more ScaleIns (refused)"),
]

# Where the peer's behaviour comes from (bench/peer.py's docstring has the detail).
PEER_SOURCES = [
    "aliyun/terraform-provider-alicloud `alicloud/resource_alicloud_edas_application_scale.go`: "
    "`resourceAlicloudEdasApplicationScaleRead` (one QueryApplicationStatus, ECU → ECC into `ecc_info`), "
    "`resourceAlicloudEdasApplicationScaleDelete` (ScaleInApplication, then `BuildStateConf([0 1], [2], "
    "d.Timeout(schema.TimeoutCreate), 5*time.Second, EdasChangeOrderStatusRefreshFunc(id, [3 6 10]))` and "
    "`WaitForState`; no read after)",
    "aliyun/terraform-provider-alicloud `alicloud/service_alicloud_edas.go`: `EdasChangeOrderStatusRefreshFunc`, "
    "`GetChangeOrderStatus` (a failed GetChangeOrderInfo fails the wait)",
    "aliyun/terraform-provider-alicloud `alicloud/common.go`: `BuildStateConf` (MinTimeout 3 s)",
    "hashicorp/terraform-plugin-sdk (v2) `helper/resource/state.go`: `StateChangeConf.WaitForStateContext` "
    "(Delay, then waits doubling from 100 ms, bounded to [MinTimeout, 10 s]; a refresh error ends the wait; "
    "later v2 releases keep this loop in `helper/retry/state.go`); `helper/schema/resource_data.go` "
    "`ResourceData.Timeout` (20 min when the resource declares none)",
    "opentofu/opentofu `internal/command/command.go` (`DefaultParallelism = 10`), `internal/tofu/context.go` "
    "(`NewContext`: the `parallelSem` semaphore), `internal/tofu/graph_walk_context.go` "
    "(`ContextGraphWalker.Execute`: each resource's refresh, and each resource's whole delete with its wait, "
    "holds one slot)",
]


def row_share(r):
    return r["params"].get("rateLimitShare", DEFAULT_SHARE)


def share_cell(r):
    return f"{row_share(r):g}" + ("" if r["params"].get("rateLimitShareFlag") else " (default)")


def bounds(r):
    """The bounds for a row, recomputed from its parameters (older results lack the new one)."""
    return lower_bound(r["n"], r["params"]["secondsPerInstance"], row_share(r))


def is_new_peer(peer):
    """A result of the peer that runs as the provider does (issue 13), not the older serial one."""
    return bool(peer.get("ran")) and "secondsTo100pct" in peer


def peer_throttled(peer):
    """Throttled peer calls, from its simulator's call log (or the peer's own count)."""
    if not peer.get("ran"):
        return None
    if "calls" in peer:
        return peer["calls"].get("throttled")
    return peer.get("throttled")


def peer_failure(peer):
    """'failed: ...' for a peer run that did not destroy every resource."""
    if peer.get("failedIn") == "refresh":
        rf = peer.get("refresh") or {}
        reads, thr, bad = rf.get("reads"), rf.get("throttled", 0), rf.get("failed", 0)
        what = f"{thr} of {reads} refresh reads throttled" if thr == bad else f"{bad} of {reads} refresh reads failed ({thr} throttled)"
        return f"failed: {what}; {peer.get('callsByAction', {}).get('ScaleInApplication', 0)} ScaleIn"
    return f"failed: {peer.get('reason') or 'not every resource was destroyed'}"


def peer_times_cell(peer):
    """The peer's time to 50% / 90% / all resources done, or what stopped it."""
    if not peer.get("ran"):
        return f"not run ({peer.get('reason', '')})"
    if "apps" not in peer:
        return f"no result (exit {peer.get('exitCode')})"
    if not is_new_peer(peer):
        if peer.get("failureCount"):
            return f"failed: {peer['failureCount']} of {peer['apps']} (older serial peer)"
        return f"– / – / {fmt_s(peer.get('seconds'))} (older peer: one app at a time)"
    if peer.get("failedIn") == "refresh":
        return peer_failure(peer)
    last = fmt_s(peer.get("secondsTo100pct")) if peer.get("ok") else peer_failure(peer)
    return f"{fmt_s(peer.get('secondsTo50pct'))} / {fmt_s(peer.get('secondsTo90pct'))} / {last}"


def peer_failed_cell(peer):
    if not peer.get("ran") or "apps" not in peer:
        return "–"
    if not is_new_peer(peer):
        return str(peer.get("failureCount", 0))
    fr = peer.get("failedResources", {})
    codes = ", ".join(f"{k} {v}" for k, v in fr.get("byCode", {}).items())
    return f"{fr.get('count', 0)}" + (f" ({codes})" if codes else "")


def peer_left_over_cell(peer):
    if not is_new_peer(peer):
        return "–"
    return str(peer.get("leftOverOrders", {}).get("count", 0))


def peer_for(r, results):
    """The peer measurement to compare a row with: its own when it ran the provider-like peer,
    else the latest such run of the same N with the default peer parameters in another row."""
    if is_new_peer(r.get("peer", {})):
        return r["peer"], None
    others = [
        o for o in results
        if o is not r and o["n"] == r["n"] and is_new_peer(o.get("peer", {}))
        and o["peer"].get("params", {}).get("parallelism") == PEER_PARALLELISM and o["peer"].get("params", {}).get("refresh")
    ]
    if not others:
        return None, None
    o = max(others, key=lambda o: o.get("startedAt", ""))
    return o["peer"], o["_row"]


def op_times_cell(op):
    all_ready = fmt_s(op.get("seconds")) if op.get("allReady") else "did not converge"
    return f"{fmt_s(op.get('secondsTo50pct'))} / {fmt_s(op.get('secondsTo90pct'))} / {all_ready}"


def peer_params_text(p):
    if p.get("peerMode") == "skip":
        return "peer not run"
    where = "alongside the operator, on its own simulator" if p.get("peerMode") == "parallel" else "after the operator"
    if "peerParallelism" not in p:
        return f"peer run {where}: the older one-app-at-a-time peer (before issue 13)"
    refresh = "refresh first" if p.get("peerRefresh", True) else "no refresh (`-refresh=false`)"
    return f"peer run {where} with `--parallelism {p['peerParallelism']}`, {refresh}"


def replace_bound(r):
    """A replacement result's lower bound, and its time / bound (None when not all Ready)."""
    op = r["operator"]
    b = lower_bound_replace(r["n"], r["params"]["secondsPerInstance"], row_share(r), r["params"].get("clusters", 1))
    op_s = op.get("seconds") if op.get("allReady") else None
    return b, ratio(op_s, b["boundSeconds"])


def replace_section():
    """The replacement fleet's part of BENCHMARKS.md (issue 12), from bench/results/replace-n*.json."""
    results = []
    for p in sorted(RESULTS.glob("replace-n*.json")):
        r = json.loads(p.read_text())
        rest = p.stem[len("replace-"):]
        tag = rest.split("-", 1)[1] if "-" in rest else ""
        r["_row"] = f"{r['n']} ({tag})" if tag else str(r["n"])
        r["_sort"] = (r["n"], tag)
        results.append(r)
    results.sort(key=lambda r: r["_sort"])
    out = []
    w = out.append
    d_ex = results[-1]["params"]["secondsPerInstance"] if results else 3.0
    b_ex = lower_bound_replace(200, d_ex)
    pw = b_ex["perWindow"]
    w("## Replacement fleet (issue 12)")
    w("")
    w("`hack/bench.sh --replace [N ...]` (`bench/run.py --replace`; results in `bench/results/replace-n<N>.json`).")
    w("What it does per N: a fresh EDAS simulator holding N apps, each running k hosts (ECCs on ECUs")
    w("`ecu-<i>-1..k`) with one more ECU of its cluster free (`ecu-<i>-(k+1)`). The apps share C clusterIds")
    w("(app i in `cluster-bench-<i mod C>`; C = 1 unless `--clusters` says otherwise), so one")
    w("`ListScaleOutEcu` per cluster can serve all of its apps (the operator caches it per cluster and takes")
    w("the ClusterId from `ListDeployGroup`). Each resource declares its k hosts by `instanceId`, with the")
    w("k-th replaced by the free one, so each app needs a replacement, make-before-break:")
    w("`ScaleOutApplication` onto the free ECU, the new ECC seen healthy (AppState 7, TaskState 2) in a")
    w("`QueryApplicationStatus`, then `ScaleInApplication` of the replaced host's ECC. The apiserver, the")
    w("operator's command, the Ready polling and the steady-state window are as above.")
    w("")
    w("What it measures: time to 50%, 90% and all Ready (`Ready=True`, reason `Converged`); time / the")
    w("replacement bound below; throttled calls (must be 0); calls per operation from the simulator's call")
    w("log (`GET /_sim/calls`); duplicate mutation attempts (every `ScaleOutApplication` beyond the first")
    w("naming the same ECU and every `ScaleInApplication` beyond the first naming the same ECC, whatever")
    w("EDAS answered; must be 0); and, from the call log and the orders' own times, that for every app")
    w("the first `ScaleInApplication` came after its `CoScaleOut` order had finished with status 2 and after")
    w("a successful `QueryApplicationStatus` of the app made at or after that finish, and named only the")
    w("replaced host's ECC (violations must be 0). The fleet check: every app runs exactly its declared")
    w("hosts, all healthy, with one succeeded `CoScaleOut` and one succeeded `CoScaleIn` order.")
    w("")
    w("No peer: terraform-provider-alicloud's `alicloud_edas_application_scale`")
    w("(`alicloud/resource_alicloud_edas_application_scale.go`) holds an instance list (`ecu_info`) as a")
    w("ForceNew field, with Create = one `ScaleOutApplication` of the whole list and Delete = one")
    w("`ScaleInApplication` of all its ECCs. Changing one host replaces the resource: by default destroy")
    w("(every listed host removed) then create; with `create_before_destroy` the create names hosts that")
    w("already run the app. With one resource per host, the removed resource's destroy and the new one's")
    w("create have no dependency and run at the same time. Nothing orders the add before the remove, so")
    w("there is no like-for-like run to compare with (this is read from the provider's source, not measured).")
    w("")
    w("### The replacement bound")
    w("")
    w("Per app, in this order: a `QueryApplicationStatus` to plan (what runs), a `ListDeployGroup` (the")
    w("ClusterId and the default group), its cluster's `ListScaleOutEcu` (once per cluster: which ECU the")
    w("new member is), `ScaleOutApplication`, that order (t_co), a `QueryApplicationStatus` that sees the new")
    w("ECC healthy, `ScaleInApplication` (no documented limit), that order (t_co), and a `GetChangeOrderInfo`")
    w("that sees it finished (Ready rests on the order's own outcome, as in the removal fleet). At least one")
    w("`GetChangeOrderInfo` per order, so 2 per app. The two orders of an app cannot overlap (one order at")
    w("a time per app, and the removal waits for the addition), so 2 t_co follow an app's ScaleOut.")
    w(f"A one-instance order of either direction takes t_co = 1.5 D in the simulator ({1.5 * d_ex:g} s at D = {d_ex:g} s), and the")
    w("new ECC is healthy when its order finishes.")
    w("")
    w("Documented per-key limits, counted by the gateway in a sliding 60 s window, at the share s the")
    w(f"operator allows itself (L' = ⌊s · L⌋; at the default s = {DEFAULT_SHARE:g}):")
    w("")
    w("| operation | limit L (per min) | L' at s = 0.9 | calls | each call is followed on its app's own path by |")
    w("|---|---|---|---|---|")
    w(f"| ScaleOutApplication | {LIMIT_SCALE_OUT} | {pw['ScaleOutApplication']} | N | both orders: 2 t_co |")
    w(f"| QueryApplicationStatus | {LIMIT_QAS} | {pw['QueryApplicationStatus']} | 2N | planning read: 2 t_co; healthy read: t_co |")
    w(f"| GetChangeOrderInfo | {LIMIT_GCOI} | {pw['GetChangeOrderInfo']} | ≥ 2N | nothing (the last one sees the last order end) |")
    w(f"| ListDeployGroup | {LIMIT_LIST_DEPLOY_GROUP} | {pw['ListDeployGroup']} | N | both orders: 2 t_co |")
    w(f"| ListScaleOutEcu | {LIMIT_LIST_SCALE_OUT_ECU} | {pw['ListScaleOutEcu']} | C (one per cluster) | both orders: 2 t_co |")
    w("")
    w("The k-th call of an operation goes out no earlier than ⌊(k−1) / L'⌋ minutes (one window's worth at")
    w("once, then one window's worth a minute), and the last of its calls is followed by what its app")
    w("still has to do. The last of the 2N reads is some app's healthy read (each app's planning read")
    w("comes before its healthy read), so only that app's ScaleIn order follows it. So:")
    w("")
    w("- ScaleOut: ⌊(N−1) / Ls'⌋ · 60 + 2 t_co")
    w("- QueryApplicationStatus: max(⌊(2N−1) / Lq'⌋ · 60 + t_co, ⌊(N−1) / Lq'⌋ · 60 + 2 t_co)")
    w("- GetChangeOrderInfo: ⌊(2N−1) / Lg'⌋ · 60")
    w("- ListDeployGroup: ⌊(N−1) / Ld'⌋ · 60 + 2 t_co")
    w("- ListScaleOutEcu: ⌊(C−1) / Le'⌋ · 60 + 2 t_co")
    w("")
    w("**replacement bound = the largest of these**, at the share the row's operator ran with. Once the")
    w("fleet does not fit in one window, ScaleOut's 40/min binds (at s = 0.9, 36 ScaleOuts per window against")
    w("45 apps' worth of read pairs and of poll pairs): the bound is the ScaleOut pacing plus the two orders")
    w("of the last app. The ratio")
    w(f"that counts is **operator time / replacement bound**. For example, with t_co = {1.5 * d_ex:g} s and C = 1:")
    w("")
    ns_all = sorted({r["n"] for r in results} | {20, 200, 1000})
    w("| N | " + " | ".join(str(n) for n in ns_all) + " |")
    w("|---|" + "---|" * len(ns_all))
    for sh_ in (DEFAULT_SHARE, 1.0):
        w(f"| s = {sh_:g} | " + " | ".join(fmt_b(lower_bound_replace(n, d_ex, sh_)["boundSeconds"]) for n in ns_all) + " |")
    for op_ in ("QueryApplicationStatus", "GetChangeOrderInfo"):
        w(f"| {op_} alone, s = {DEFAULT_SHARE:g} | " + " | ".join(
            fmt_b(lower_bound_replace(n, d_ex)["byOperationSeconds"][op_]) for n in ns_all) + " |")
    w("")
    w(f"Target: time / replacement bound ≤ 1.2 with 0 throttled calls where the ScaleOuts do not fit in one")
    w(f"window (N > Ls' = {pw['ScaleOutApplication']} at s = {DEFAULT_SHARE:g}; issue 12 names N = 200 and 1000). Below that the bound is only")
    w("the two orders (2 t_co) and the ratio is shown without a target.")
    w("")
    if not results:
        w("No replacement runs stored yet.")
        w("")
        return out
    machines = sorted({json.dumps(r["machine"], sort_keys=True) for r in results})
    for m in machines:
        m = json.loads(m)
        rows = [r["_row"] for r in results if json.dumps(r["machine"], sort_keys=True) == json.dumps(m, sort_keys=True)]
        w(f"- Machine (N = {', '.join(rows)}): {m['nproc']} CPUs ({m['cpuModel']}), {m['memGiB']} GiB RAM, Linux {m['kernel']};")
        w(f"  kube-apiserver {m['k8sVersion']} and etcd {m['etcdVersion']}; shared with other work, so absolute times carry noise.")
    for pj in sorted({json.dumps(r["params"], sort_keys=True) for r in results}):
        p = json.loads(pj)
        rows = [r["_row"] for r in results if json.dumps(r["params"], sort_keys=True) == pj]
        share = p.get("rateLimitShare", DEFAULT_SHARE)
        share_text = f"`--rate-limit-share {share:g}`" if p.get("rateLimitShareFlag") else f"the default `--rate-limit-share {share:g}` (flag not passed)"
        w(f"- Parameters (N = {', '.join(rows)}): k = {p['eccsPerApp']} hosts per app, 1 replaced; C = {p['clusters']} cluster(s);")
        w(f"  D = {p['secondsPerInstance']} s (t_co = {1.5 * p['secondsPerInstance']:g} s); {p['limits']}; {p['accessKeys']} access key;")
        w(f"  operator `--concurrency {p['concurrency']} --resync-interval {p['resyncInterval']}`, {share_text};")
        w(f"  readiness polled every {p['pollSeconds']} s; steady-state window {p['steadySeconds']} s.")
    srcs = sorted({f"{r['source']['gitRev']}{' + local changes in src/' if r['source']['srcModified'] else ''}" for r in results})
    w(f"- Operator source: {', '.join(srcs)}.")
    w("")
    w("### Replacement: time to converge")
    w("")
    w("| N | share | 50% / 90% / all Ready | replacement bound (binding) | **time / bound** | throttled | duplicate ScaleOut / ScaleIn attempts | apps whose ScaleIn came before their ScaleOut was finished and read | fleet as declared |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        op = r["operator"]
        b, rb = replace_bound(r)
        rp = op.get("replacement", {})
        fl = op.get("fleet", {})
        w(
            f"| {r['_row']} | {share_cell(r)} | {op_times_cell(op)} | {fmt_b(b['boundSeconds'])} ({b['binding']}) "
            f"| **{fmt_r(rb)}** | {op['allCalls']['throttled']} "
            f"| {rp.get('duplicateScaleOutAttempts', '–')} / {rp.get('duplicateScaleInAttempts', '–')} "
            f"| {rp.get('orderViolations', '–')} of {rp.get('appsChecked', '–')} "
            f"| {'yes' if fl.get('ok') else '**no**'} ({fl.get('appsAsDeclared', '–')} of {fl.get('apps', '–')}) |"
        )
    w("")
    ops = ["QueryApplicationStatus", "ListDeployGroup", "ListScaleOutEcu", "ScaleOutApplication", "ScaleInApplication",
           "GetChangeOrderInfo", "ListRecentChangeOrder"]
    w("### Replacement: EDAS calls")
    w("")
    w("From the operator's start until all resources were Ready; per app in brackets, and the peak in any")
    w("60 s after the slash (to set against L' above).")
    w("")
    w("| N | share | " + " | ".join(ops) + " | other | calls per app | peak RSS | CPU to Ready |")
    w("|---|---|" + "---|" * (len(ops) + 4))
    for r in results:
        op = r["operator"]
        c = op["calls"]
        ba, pk = c["byAction"], c["peakPer60s"]
        n = r["n"]
        other = sum(v for k, v in ba.items() if k not in ops)
        cells = [f"{ba.get(o, 0)} ({ba.get(o, 0) / n:.2f}) / {pk.get(o, 0)}" for o in ops]
        end = op.get("end", op.get("atReady", {}))
        w(f"| {r['_row']} | {share_cell(r)} | " + " | ".join(cells)
          + f" | {other} | {c['total'] / n:.2f} | {end.get('peakRssMiB', 0):.1f} MiB | {op['atReady']['cpuSeconds']:.1f} s |")
    w("")
    w("### Replacement: where each app's time went")
    w("")
    w("From the call log and the orders' own times; median / p90 / max over the apps, in seconds.")
    w("")
    w("| N | start → first QueryApplicationStatus | → ScaleOut sent | ScaleOut order | its end → healthy read | → ScaleIn sent | ScaleIn order | its end → poll that saw it | ScaleOut sent → ScaleIn done | polls per ScaleOut / ScaleIn order (mean) |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        tl = r["operator"].get("replacement", {}).get("timeline")
        if not tl:
            continue
        f3 = lambda d: f"{d['median']} / {d['p90']} / {d['max']}" if d and d.get("median") is not None else "–"  # noqa: E731
        w(
            f"| {r['_row']} | {f3(tl['startToFirstQuery'])} | {f3(tl['firstQueryToScaleOut'])} | {f3(tl['scaleOutRun'])} "
            f"| {f3(tl['scaleOutDoneToHealthyRead'])} | {f3(tl['healthyReadToScaleIn'])} | {f3(tl['scaleInRun'])} "
            f"| {f3(tl['scaleInDoneToSeen'])} | {f3(tl['scaleOutSentToScaleInDone'])} "
            f"| {fmt_r(tl['pollsPerScaleOut']['mean'])} / {fmt_r(tl['pollsPerScaleIn']['mean'])} |"
        )
    w("")
    yn = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    w("### Replacement: targets (issue 12)")
    w("")
    w("| N | share | time / replacement bound ≤ 1.2 | zero throttled calls | no duplicate ScaleOut or ScaleIn | add finished and read before every remove | converged correctly |")
    w("|---|---|---|---|---|---|---|")
    for r in results:
        op = r["operator"]
        b, rb = replace_bound(r)
        thr = op["allCalls"]["throttled"]
        rp = op.get("replacement", {})
        dups = rp.get("duplicateScaleOutAttempts", 0) + rp.get("duplicateScaleInAttempts", 0)
        converged = bool(op.get("allReady")) and bool(op.get("fleet", {}).get("ok"))
        if r["n"] > b["perWindow"]["ScaleOutApplication"]:
            bound_cell = f"{yn(rb is not None and rb <= 1.2)} ({fmt_r(rb)})"
        else:
            bound_cell = f"no target at this N ({fmt_r(rb)})"
        order_ok = rp.get("orderViolations", 1) == 0 and rp.get("appsWithoutScaleIn", 1) == 0
        w(
            f"| {r['_row']} | {share_cell(r)} | {bound_cell} | {yn(thr == 0)} ({thr}) | {yn(dups == 0)} ({dups}) "
            f"| {yn(order_ok)} ({rp.get('orderViolations', '–')} violations, {rp.get('appsWithoutScaleIn', '–')} apps without a ScaleIn) "
            f"| {yn(converged)} |"
        )
    w("")
    return out


def write_report():
    results = []
    for p in sorted(RESULTS.glob("n*.json")):
        r = json.loads(p.read_text())
        tag = p.stem.split("-", 1)[1] if "-" in p.stem else ""
        r["_row"] = f"{r['n']} ({tag})" if tag else str(r["n"])
        r["_sort"] = (r["n"], tag)
        results.append(r)
    results.sort(key=lambda r: r["_sort"])
    if not results:
        if not any(RESULTS.glob("replace-n*.json")):
            print(f"no results in {RESULTS}", file=sys.stderr)
            return
        # Only replacement rows (e.g. a scratch results dir): that section alone.
        BENCHMARKS_MD.write_text("\n".join(["# Benchmarks", "", *replace_section()]))
        log(f"wrote {BENCHMARKS_MD} (replacement fleet only)")
        return
    machines = {json.dumps(r["machine"], sort_keys=True) for r in results}
    params = {json.dumps({k: v for k, v in r["params"].items()}, sort_keys=True) for r in results}
    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Generated by `bench/run.py` from the figures it measured (`bench/results/n*.json`, and")
    w("`bench/results/replace-n*.json` for the replacement fleet); do not edit by hand. Re-run with")
    w("`hack/bench.sh [N ...]` (default `50 200`) or `hack/bench.sh --replace [N ...]`;")
    w("`bench/run.py --report` rewrites this file from the stored results.")
    w("")
    w("What it does per N: a fresh EDAS simulator holding N apps with 2 running ECCs each; N")
    w("`EdasAppMembership` resources (one per app, 1 declared member, so each needs exactly one")
    w("change order removing one instance) applied in one `kubectl apply` to a real kube-apiserver;")
    w("then the release binary started as `edas-operator run` with the limited RBAC identity, and the")
    w("resources polled until all are `Ready=True` with reason `Converged`. The operator then keeps")
    w("running for a steady-state window. EDAS calls come from the simulator's call log")
    w("(`GET /_sim/calls`), peak RSS is `VmHWM` and CPU is `utime+stime` of the operator process.")
    w("The peer does the same fleet on its own simulator with the official Python SDK, the way the")
    w("real Terraform provider does it (`bench/peer.py`, described below). A row's share is the")
    w("`--rate-limit-share` its operator ran with (`bench/run.py --rate-limit-share X`).")
    w("")
    w("## Machine and parameters")
    w("")
    for m in sorted(machines):
        m = json.loads(m)
        ns_ = [r["_row"] for r in results if json.dumps(r["machine"], sort_keys=True) == json.dumps(m, sort_keys=True)]
        w(f"- Machine (N = {', '.join(ns_)}): {m['nproc']} CPUs ({m['cpuModel']}), {m['memGiB']} GiB RAM, Linux {m['kernel']};")
        w(f"  kube-apiserver {m['k8sVersion']} and etcd {m['etcdVersion']} on loopback (hack/control-plane.sh); Python {m['python']}.")
        w("  Shared with other builds and tests running at the same time, so absolute times carry noise;")
        w("  the ratios below are what to read.")
    for p in sorted(params):
        p = json.loads(p)
        ns_ = [r["_row"] for r in results if json.dumps(r["params"], sort_keys=True) == json.dumps(p, sort_keys=True)]
        share = p.get("rateLimitShare", DEFAULT_SHARE)
        share_text = f"`--rate-limit-share {share:g}`" if p.get("rateLimitShareFlag") else f"the default `--rate-limit-share {share:g}` (flag not passed)"
        w(f"- Parameters (N = {', '.join(ns_)}): change orders of one instance with `secondsPerInstance` D = {p['secondsPerInstance']} s")
        w(f"  (an order takes 1.5 D = {1.5 * p['secondsPerInstance']:g} s in the simulator: D/2 queued at status 0, then D for its task);")
        w(f"  {p['limits']}; {p['accessKeys']} access key for the whole fleet;")
        w(f"  operator `--concurrency {p['concurrency']} --resync-interval {p['resyncInterval']}`, {share_text};")
        w(f"  readiness polled every {p['pollSeconds']} s (so operator times are rounded up by up to one poll);")
        w(f"  steady-state window {p['steadySeconds']} s; {peer_params_text(p)}.")
    srcs = sorted({f"{r['source']['gitRev']}{' + local changes in src/' if r['source']['srcModified'] else ''}" for r in results})
    w(f"- Operator source: {', '.join(srcs)}.")
    w("")
    w("## The peer: Terraform's `alicloud_edas_application_scale`")
    w("")
    w("`bench/peer.py` plays `tofu destroy` of N `alicloud_edas_application_scale` resources (one per")
    w("app, each holding the one instance to remove) with the official Python SDK")
    w("(`alibabacloud-edas20170801`, its default ACS3 signature), the way terraform-provider-alicloud")
    w("under OpenTofu drives EDAS:")
    w("")
    w("1. Refresh: one `QueryApplicationStatus` per resource (the resource's Read), all resources as one")
    w("   burst through a pool of `--parallelism` workers (OpenTofu's `-parallelism`, default 10). If any")
    w("   read fails, throttled or otherwise, the plan fails and nothing is destroyed.")
    w("2. Destroy, per resource, `--parallelism` at a time: `ScaleInApplication` of the resource's ECC,")
    w("   then `GetChangeOrderInfo` 5 s later and after waits of 3 s, 6 s, then every 10 s until the")
    w("   order reaches status 2 (3, 6 and 10 are failures). No read after: the order's own status is")
    w("   the confirmation.")
    w("")
    w("No pacing and no retry: a throttled call fails its resource, and a resource whose order was")
    w("created but whose wait failed leaves that order behind (a \"left-over\" order: the resource stays")
    w("in state, and a re-run sends another ScaleIn). `--refresh false` skips step 1, like")
    w("`-refresh=false`. So at the documented limits the refresh burst reads all N apps within a")
    w(f"second: up to N = L_q = {LIMIT_QAS} it passes and the run takes ⌈N / 10⌉ waves of about 5 s (the first")
    w("poll, 5 s after the ScaleIn, sees the 4.5 s order finished); above that the plan is throttled")
    w("and the run fails before any ScaleIn, and fails the same way when run again. Peer times count")
    w("from its first call (process start-up excluded); the per-resource outcomes are in the run's log")
    w("directory (`peer-n<N>-result.json`).")
    w("")
    w("The real provider (v1.286.0 under OpenTofu 1.12.6, default `-parallelism=10`) measured against")
    w("this simulator with this fleet (issue 13); the peer reproduces these figures:")
    w("")
    w("| N | `tofu destroy` | EDAS calls | outcome |")
    w("|---|---|---|---|")
    for row in REAL_PROVIDER:
        w("| " + " | ".join(row) + " |")
    w("")
    w("Where this behaviour is set (public source; `bench/peer.py` has the detail):")
    w("")
    for src in PEER_SOURCES:
        w(f"- {src}.")
    w("")
    w("## The lower bound")
    w("")
    w("Each app needs one `QueryApplicationStatus` before its scale-in (to know what runs), the order")
    w("itself (t_co = 1.5 D), and at least one `GetChangeOrderInfo` that sees the order finished.")
    w("`Ready` rests on the order's own outcome; the read that confirms it comes later, within the")
    w("steady-state resync budget, so it is not on the way to Ready. `ScaleInApplication` and")
    w("`ListRecentChangeOrder` have no documented limit. With one access key and the documented per-key")
    w(f"limits L_q = {LIMIT_QAS}/min and L_g = {LIMIT_GCOI}/min, which the gateway (and the simulator) count in a sliding")
    w("60 s window, a client that allows itself a share s of each limit may make Lq' = s · L_q reads")
    w("and Lg' = s · L_g polls in any 60 s. So:")
    w("")
    w("- the k-th read goes out no earlier than ⌊(k−1) / Lq'⌋ minutes (one window's worth at once,")
    w("  then one window's worth a minute);")
    w("- the k-th poll goes out no earlier than ⌊(k−1) / Lg'⌋ minutes;")
    w("- a poll that sees an order finished comes no earlier than the order's end, t_co after its read.")
    w("")
    w("**new window bound = max(⌊(N−1) / Lq'⌋ · 60 + t_co, ⌊(N−1) / Lg'⌋ · 60) seconds**, taken at the")
    w(f"share the row's operator ran with: s = {DEFAULT_SHARE:g} by default (Lq' = {per_window(LIMIT_QAS, DEFAULT_SHARE)}), s = 1 with")
    w(f"`--rate-limit-share 1` (Lq' = {LIMIT_QAS}; at s = 1 it is the bound for any client). The ratio that")
    d_ex = results[-1]["params"]["secondsPerInstance"]
    w(f"counts is **operator time / new window bound**. For example, with t_co = {1.5 * d_ex:g} s:")
    w("")
    ns_all = sorted({r["n"] for r in results} | {50, 100, 200, 1000})
    w("| N | " + " | ".join(str(n) for n in ns_all) + " |")
    w("|---|" + "---|" * len(ns_all))
    for s in (DEFAULT_SHARE, 1.0):
        w(f"| s = {s:g} | " + " | ".join(fmt_b(lower_bound(n, d_ex, s)["newWindowBoundSeconds"]) for n in ns_all) + " |")
    w("")
    w("The old bounds (issue 7) assumed a second read per app after its order: **old rate bound**")
    w("max(2N / L_q, N / L_q + t_co, N / L_g) minutes, the limits taken as sustained rates (from")
    w("N = L_q · t_co / 60 on, 2N / L_q: the reads, not the orders, set the pace), and **old window")
    w("bound**, the same counted in the sliding window (k-th call no earlier than ⌊(k−1) / L⌋ minutes).")
    w("They are shown below for the older rows, which were measured against them.")
    w("")
    w("## Time to converge")
    w("")
    w("Operator: time to 50%, 90% and all resources Ready from its start. Peer: time to 50%, 90% and")
    w("all resources destroyed from its first call, or what made it fail. Throttled, failed resources")
    w("and left-over orders are the peer's (the operator's throttled calls are in the next tables).")
    w("")
    w("| N | share | operator 50% / 90% / all Ready | new window bound | **operator / new window bound** | peer 50% / 90% / all done | peer throttled | peer failed resources | peer left-over orders |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        op, b, peer = r["operator"], bounds(r), r.get("peer", {})
        op_s = op.get("seconds") if op.get("allReady") else None
        thr = peer_throttled(peer)
        w(
            f"| {r['_row']} | {share_cell(r)} | {op_times_cell(op)} | {fmt_b(b['newWindowBoundSeconds'])} "
            f"| **{fmt_r(ratio(op_s, b['newWindowBoundSeconds']))}** | {peer_times_cell(peer)} "
            f"| {'–' if thr is None else thr} | {peer_failed_cell(peer)} | {peer_left_over_cell(peer)} |"
        )
    w("")
    w("### Old and new bounds")
    w("")
    w("| N | share | operator all Ready | old rate bound | operator / old rate bound | old window bound | new window bound, s = 1 (any client) | new window bound at the row's share | operator / new window bound |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        op, b = r["operator"], bounds(r)
        op_s = op.get("seconds") if op.get("allReady") else None
        w(
            f"| {r['_row']} | {share_cell(r)} | {fmt_s(op_s) if op_s else 'did not converge'} | {fmt_b(b['rateBoundSeconds'])} "
            f"| {fmt_r(ratio(op_s, b['rateBoundSeconds']))} | {fmt_b(b['windowBoundSeconds'])} | {fmt_b(b['newWindowBoundShare1Seconds'])} "
            f"| {fmt_b(b['newWindowBoundSeconds'])} | {fmt_r(ratio(op_s, b['newWindowBoundSeconds']))} |"
        )
    w("")
    w("## EDAS calls, throttling, resources")
    w("")
    w("Operator calls are counted from its start until all resources were Ready; the peer's over its")
    w("whole run, from its simulator's call log.")
    w("")
    w("| N | share | QueryApplicationStatus | GetChangeOrderInfo | ListRecentChangeOrder | ScaleInApplication | calls per converged change | polls per order | peak QAS / GCOI in any 60 s | throttled (operator / peer) | peer calls (QAS + ScaleIn + GCOI) | peak RSS | CPU to Ready / whole run |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        op = r["operator"]
        c = op["calls"]
        ba = c["byAction"]
        n = r["n"]
        peer = r.get("peer", {})
        if peer.get("ran") and "calls" in peer:
            pba = peer["calls"]["byAction"]
            peer_calls = (
                f"{peer['calls']['total']} ({pba.get('QueryApplicationStatus', 0)} + {pba.get('ScaleInApplication', 0)} "
                f"+ {pba.get('GetChangeOrderInfo', 0)}; {peer.get('pollsPerOrder', 0):.2f} polls/order)"
            )
        else:
            peer_calls = "not run"
        thr = peer_throttled(peer)
        end = op.get("end", op.get("atReady", {}))
        w(
            f"| {r['_row']} | {share_cell(r)} | {ba.get('QueryApplicationStatus', 0)} | {ba.get('GetChangeOrderInfo', 0)} | {ba.get('ListRecentChangeOrder', 0)} "
            f"| {ba.get('ScaleInApplication', 0)} | {c['total'] / n:.2f} | {ba.get('GetChangeOrderInfo', 0) / n:.2f} "
            f"| {c['peakPer60s'].get('QueryApplicationStatus', 0)} / {c['peakPer60s'].get('GetChangeOrderInfo', 0)} "
            f"| {op['allCalls']['throttled']} / {'–' if thr is None else thr} | {peer_calls} | {end.get('peakRssMiB', 0):.1f} MiB "
            f"| {op['atReady']['cpuSeconds']:.1f} s / {end.get('cpuSeconds', 0):.1f} s |"
        )
    w("")
    w("## Steady state")
    w("")
    w("After every resource is Ready the operator keeps running; each converged resource is")
    w("re-observed (drift) at the configured interval, spread out as the fleet grows so periodic")
    w(f"resyncs use at most {int(STEADY_SHARE * 100)}% of the `QueryApplicationStatus` budget. Budget below = {int(STEADY_SHARE * 100)}% of the")
    w(f"documented {LIMIT_QAS}/min = {int(STEADY_SHARE * LIMIT_QAS * 60)}/h (the operator aims at {int(STEADY_SHARE * 100)}% of its share of it, e.g.")
    w(f"{int(STEADY_SHARE * LIMIT_QAS * DEFAULT_SHARE * 60)}/h at the default share {DEFAULT_SHARE:g}).")
    w("The window starts when the last resource became Ready. Where the spread-out interval")
    w("(N · 60 / (50% of the share of the limit) s) is longer than the window, the window sees the")
    w("resyncs of the resources that converged first, i.e. the rate the spreading sets, sampled over")
    w("the window.")
    w("")
    w("| N | share | window | EDAS calls in window | QueryApplicationStatus per hour | operator's plan per hour | budget per hour | share of budget | peak QAS in any 60 s | within budget |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        st = r.get("steady")
        if not st:
            w(f"| {r['_row']} | {share_cell(r)} | – | – | – | – | – | – | – | not measured (did not converge) |")
            continue
        w(
            f"| {r['_row']} | {share_cell(r)} | {st['seconds']} s | {st['calls']['total']} | {st['qasPerHour']} | {planned_per_hour(r)} | {st['budgetPerHour']} "
            f"| {st['qasPerHour'] / st['budgetPerHour']:.0%} | {st['peakQasPer60s']} | {'yes' if st['withinBudget'] else '**no**'} |"
        )
    w("")
    with_tl = [r for r in results if r["operator"].get("timeline")]
    if with_tl:
        w("## Where each app's time went (operator)")
        w("")
        w("From the simulator's call log and its orders' own start and finish times; median / p90 / max")
        w("over the apps, in seconds.")
        w("")
        w("| N | start → first QueryApplicationStatus | order run | order done → first poll after it | that poll → QueryApplicationStatus after | polls per order (mean / max) |")
        w("|---|---|---|---|---|---|")
        for r in with_tl:
            tl = r["operator"]["timeline"]
            f3 = lambda d: f"{d['median']} / {d['p90']} / {d['max']}" if d and d.get("median") is not None else "–"  # noqa: E731
            w(
                f"| {r['_row']} | {f3(tl['startToFirstQuery'])} | {f3(tl['orderRun'])} | {f3(tl['doneToSeen'])} "
                f"| {f3(tl['seenToQueryAfter'])} | {tl['pollsPerOrder']['mean']} / {tl['pollsPerOrder']['max']} |"
            )
        w("")
    yn = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    w("## Targets (issue 13)")
    w("")
    w(f"Where the peer succeeds (N ≤ L_q = {LIMIT_QAS}, e.g. 50 and 100): the operator at share 1 is all Ready")
    w("before the peer has destroyed all its resources, and at the default share it is 90% Ready before")
    w(f"the peer is 90% done. Where the peer fails (N > {LIMIT_QAS}, e.g. 200 and 1000): the operator converges")
    w("correctly with time / new window bound ≤ 1.2. Always: zero throttled calls. A row without its")
    w("own provider-like peer run is compared with the latest one of the same N (named in the cell).")
    w("")
    w("| N | share | faster than the peer | zero throttled calls | converged correctly | time / new window bound ≤ 1.2 |")
    w("|---|---|---|---|---|---|")
    for r in results:
        op, b = r["operator"], bounds(r)
        op_s = op.get("seconds") if op.get("allReady") else None
        rb = ratio(op_s, b["newWindowBoundSeconds"])
        thr = op["allCalls"]["throttled"]
        converged = bool(op.get("allReady")) and bool(op.get("fleet", {}).get("ok"))
        peer, from_row = peer_for(r, results)
        note = f"; peer of row {from_row}" if from_row else ""
        if r["n"] <= LIMIT_QAS:
            if peer is None:
                faster = "no provider-like peer run at this N"
            elif not peer.get("ok"):
                faster = f"peer {peer_failure(peer)}{note}"
            elif row_share(r) >= 1.0:
                p_s = peer.get("secondsTo100pct")
                faster = f"{yn(bool(op_s and p_s and op_s < p_s))} (all Ready {fmt_s(op_s)} vs all done {fmt_s(p_s)}{note})"
            else:
                o90, p90 = op.get("secondsTo90pct"), peer.get("secondsTo90pct")
                faster = f"{yn(bool(o90 and p90 and o90 < p90))} (90% Ready {fmt_s(o90)} vs 90% done {fmt_s(p90)}{note})"
            bound_cell = f"no target at this N ({fmt_r(rb)})"
        else:
            if peer is not None and not peer.get("ok"):
                faster = f"n/a: peer {peer_failure(peer)}{note}"
            elif peer is not None:
                faster = f"n/a (peer all done {fmt_s(peer.get('secondsTo100pct'))}{note})"
            else:
                faster = f"n/a: the peer fails above N = {LIMIT_QAS}"
            bound_cell = f"{yn(rb is not None and rb <= 1.2)} ({fmt_r(rb)})"
        w(
            f"| {r['_row']} | {share_cell(r)} | {faster} | {yn(thr == 0)} ({thr}) | {yn(converged)} | {bound_cell} |"
        )
    w("")
    w("## Targets (issue 7)")
    w("")
    w("Kept against the old rate bound for continuity; the comparison with the peer moved to issue 13's")
    w("targets above.")
    w("")
    w("| N | share | time / old rate bound ≤ 1.2 (set for N = 1000) | zero throttled calls | peak RSS < 100 MiB | steady state within budget |")
    w("|---|---|---|---|---|---|")
    for r in results:
        op = r["operator"]
        op_s = op.get("seconds") if op.get("allReady") else None
        rb = ratio(op_s, bounds(r)["rateBoundSeconds"])
        end = op.get("end", op.get("atReady", {}))
        w(
            f"| {r['_row']} | {share_cell(r)} | {yn(rb is not None and rb <= 1.2)} ({fmt_r(rb)}) | {yn(op['allCalls']['throttled'] == 0)} ({op['allCalls']['throttled']}) "
            f"| {yn(end.get('peakRssMiB', 1e9) < 100)} ({end.get('peakRssMiB', 0):.1f} MiB) "
            f"| {yn(bool(r.get('steady', {}).get('withinBudget')))} |"
        )
    w("")
    if any("(" in r["_row"] for r in results):
        w("Rows with a tag, e.g. \"200 (repeat)\" or \"100 (share1)\", are further runs of the same N")
        w("(`--tag`; `--rate-limit-share X` without a tag stores the row as `share<X>`), kept to show the")
        w("run-to-run spread on this shared machine or another share.")
        w("")
    out += replace_section()
    w("Raw figures (per-operation peaks, failures, fleet checks, commands) are in")
    w("`bench/results/n<N>.json` and `bench/results/replace-n<N>.json`.")
    w("")
    BENCHMARKS_MD.write_text("\n".join(out))
    log(f"wrote {BENCHMARKS_MD} from {len(results)} result(s)")


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ns", nargs="*", type=int, help="fleet sizes (default 50 200; with --replace 200)")
    ap.add_argument("--bin", help="the release edas-operator binary")
    ap.add_argument("--cp-env", help="DIR/env written by hack/control-plane.sh start DIR")
    ap.add_argument("--sdk-python", help="the venv python from hack/python-sdk.sh")
    ap.add_argument("--workdir", help="logs and state files (default: a temp dir)")
    ap.add_argument("--seconds-per-instance", type=float, default=3.0, help="simulator change-order speed D (default 3)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--resync-interval", default="30s")
    ap.add_argument("--steady-seconds", type=int, default=120)
    ap.add_argument("--poll-seconds", type=float, default=2.0)
    ap.add_argument("--peer", choices=["parallel", "serial", "skip"], default="parallel",
                    help="run the peer alongside the operator (default), after it, or not at all")
    ap.add_argument("--peer-note", default="", help="why the peer was skipped (goes into the report)")
    ap.add_argument("--peer-parallelism", type=int, default=PEER_PARALLELISM,
                    help=f"the peer's --parallelism (default {PEER_PARALLELISM}, as tofu's -parallelism)")
    ap.add_argument("--peer-refresh", choices=["true", "false"], default="true",
                    help="the peer's --refresh (default true; false is like tofu destroy -refresh=false)")
    ap.add_argument("--rate-limit-share", type=float, default=None,
                    help=f"passed to the operator as --rate-limit-share (default: not passed, the operator's {DEFAULT_SHARE}); "
                         "without --tag the results are stored as n<N>-share<X>.json")
    ap.add_argument("--replace", action="store_true",
                    help="the replacement fleet (issue 12): each app replaces one of its hosts with a free ECU of its "
                         "cluster, ScaleOut before ScaleIn; results as replace-n<N>.json; no peer")
    ap.add_argument("--hosts-per-app", type=int, default=2,
                    help="--replace: hosts (ECCs) each app runs and declares, one of them replaced (default 2)")
    ap.add_argument("--clusters", type=int, default=1,
                    help="--replace: clusterIds the apps are spread over (default 1: one ListScaleOutEcu can serve all)")
    ap.add_argument("--ready-timeout", type=float, default=None,
                    help="seconds to wait for all Ready (default max(600, 3 x bound + 300))")
    ap.add_argument("--report", action="store_true", help="only regenerate BENCHMARKS.md from bench/results")
    ap.add_argument("--tag", default="", help="store results as n<N>-<TAG>.json (e.g. a repeat) instead of n<N>.json")
    ap.add_argument("--results-dir", help="where results go and the report reads them (default bench/results)")
    ap.add_argument("--report-file", help="the report to write (default BENCHMARKS.md)")
    args = ap.parse_args()
    global RESULTS, BENCHMARKS_MD
    if args.results_dir:
        RESULTS = Path(args.results_dir).resolve()
    if args.report_file:
        BENCHMARKS_MD = Path(args.report_file).resolve()

    if args.report:
        write_report()
        return 0
    for k in ("bin", "cp_env"):
        if not getattr(args, k):
            ap.error(f"--{k.replace('_', '-')} is required (hack/bench.sh passes it)")
    if args.peer != "skip" and not args.sdk_python and not args.replace:
        ap.error("--sdk-python is required unless --peer skip")
    if args.replace:
        if not 1 <= args.hosts_per_app <= 200 or args.clusters < 1:
            ap.error("--hosts-per-app must be 1..200 (the CRD's member limit) and --clusters at least 1")
        args.peer = "skip"
    if args.rate_limit_share is not None:
        if not 0 < args.rate_limit_share <= 1:
            ap.error("--rate-limit-share must be in (0, 1]")
        if not args.tag:
            # Keep a non-default share from overwriting the default row of the same N.
            args.tag = f"share{args.rate_limit_share:g}"
    ns_list = args.ns or ([200] if args.replace else [50, 200])
    env = load_env(args.cp_env)
    kube = Kube(env)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="edas-bench."))
    workdir.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    log(f"logs in {workdir}")
    kube.setup()
    failed = []
    for n in ns_list:
        res = bench_one(args, kube, env, n, workdir)
        res["checks"] = checks(res)
        prefix = "replace-" if args.replace else ""
        (RESULTS / f"{prefix}n{n}{'-' + args.tag if args.tag else ''}.json").write_text(json.dumps(res, indent=1) + "\n")
        (workdir / f"{prefix}n{n}-result.json").write_text(json.dumps(res, indent=1) + "\n")
        op = res["operator"]
        if args.replace:
            rp = op.get("replacement", {})
            log(
                f"N={n} (replace): operator {op.get('seconds')} s (bound {res['bound']['boundSeconds']} s, "
                f"{res['bound']['binding']} binds, share {res['params']['rateLimitShare']:g}), "
                f"throttled {op['allCalls']['throttled']}, calls {op['calls']['byAction']}, "
                f"duplicates {rp.get('duplicateScaleOutAttempts')} ScaleOut / {rp.get('duplicateScaleInAttempts')} ScaleIn, "
                f"order violations {rp.get('orderViolations')} of {rp.get('appsChecked')} apps with a ScaleIn; "
                f"checks: {res['checks'] or 'ok'}"
            )
            failed += [f"N={n} (replace): {p}" for p in res["checks"]]
            write_report()
            continue
        log(
            f"N={n}: operator {op.get('seconds')} s (new window bound {res['bound']['newWindowBoundSeconds']} s "
            f"at share {res['params']['rateLimitShare']:g}), "
            f"peer {res['peer'].get('seconds', 'not run')} s{'' if res['peer'].get('ok', True) else ' (failed)'}, "
            f"throttled {op['allCalls']['throttled']}, "
            f"peak RSS {op.get('end', {}).get('peakRssMiB')} MiB, steady {res.get('steady', {}).get('qasPerHour')} QAS/h; "
            f"checks: {res['checks'] or 'ok'}"
        )
        failed += [f"N={n}: {p}" for p in res["checks"]]
        write_report()
    if failed:
        for f in failed:
            log(f"FAIL {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
