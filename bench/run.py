#!/usr/bin/env python3
"""Fleet benchmark: N EdasAppMembership resources on a real kube-apiserver, the release
operator against the EDAS simulator at its documented rate limits, and a peer (Terraform's
EDAS scale pattern with the official Python SDK) on its own simulator with the same fleet.

Run it through hack/bench.sh (which builds the release binary, starts the control plane and
the SDK venv). By hand:

  bench/run.py --bin BIN --cp-env CP_DIR/env --sdk-python VENV_PY --workdir DIR 50 200
  bench/run.py --report          # only regenerate BENCHMARKS.md from bench/results/*.json

Per N: a fresh simulator with N apps x 2 ECCs (1 declared: one change order of one instance
per app), the documented limits, `secondsPerInstance` D, one access key; N resources applied
in one multi-document `kubectl apply`; the operator started with the limited identity; the
resources polled until all are Ready=True/Converged; then a steady-state window with the
operator still running. What it measured goes to bench/results/n<N>.json and BENCHMARKS.md is
regenerated from all results there. Exit status 1 when a hard check failed (the operator was
throttled, steady state over budget, resources not Ready, fleet not as declared).

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
# The share of the QueryApplicationStatus limit periodic resyncs may use in steady state
# (src/controller/mod.rs RESYNC_BUDGET_SHARE).
STEADY_SHARE = 0.5


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


def fleet_doc(n, seconds_per_instance):
    """N apps x 2 running ECCs; documented limits (no `limits`); one access key."""
    apps = []
    for i in range(n):
        a = app_id(i)
        grp = f"grp-{i}"
        ip = f"10.{i // 250}.{i % 250}"
        apps.append({
            "appId": a,
            "regionId": "cn-hangzhou",
            "name": f"bench-app-{i}",
            "groups": [{"groupId": grp, "groupName": "_DEFAULT_GROUP"}],
            "ecus": [
                {"ecuId": f"ecu-{i}-{j}", "instanceId": f"i-bench-{i}-{j}", "ip": f"{ip}.{j}", "groupId": grp}
                for j in (1, 2)
            ],
            "eccs": [{"eccId": f"ecc-{i}-{j}", "ecuId": f"ecu-{i}-{j}", "groupId": grp} for j in (1, 2)],
        })
    return {
        "accessKeys": [{"id": ACCESS_KEY_ID, "secret": ACCESS_KEY_SECRET}],
        "apps": apps,
        "changeOrders": {"secondsPerInstance": seconds_per_instance, "batchType": "Automatic", "batchCount": 1},
    }


def memberships(ns, n):
    docs = []
    for i in range(n):
        docs.append(json.dumps({
            "apiVersion": "edas.operators.dev/v1alpha1",
            "kind": "EdasAppMembership",
            "metadata": {"name": f"app-{i:04d}", "namespace": ns},
            "spec": {
                "appId": app_id(i),
                "regionId": "cn-hangzhou",
                "members": [{"eccId": f"ecc-{i}-1"}],
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


def lower_bound(n, seconds_per_instance):
    """Seconds: the least time any client needs for the fleet (see BENCHMARKS.md).

    t_co: one single-instance order in the simulator sits at status 0 for D/2, then its one
    task runs D, so it takes 1.5 D.
    Rate bound (limits as sustained rates): the 2N QueryApplicationStatus calls (one before,
    one after each app's order) need 2N/L_q minutes; the last "before" call cannot come before
    N/L_q and its app's "after" call needs that app's order (t_co) to have finished; the N
    GetChangeOrderInfo polls need N/L_g on their own budget, in parallel.
    Window bound (the simulator's and gateway's sliding 60 s window, with its initial burst):
    the k-th call of an operation can come no earlier than floor((k-1)/L) minutes.
    """
    t_co = 1.5 * seconds_per_instance
    rate = max(2 * n / LIMIT_QAS * 60, n / LIMIT_QAS * 60 + t_co, n / LIMIT_GCOI * 60)
    window = max(
        math.floor((2 * n - 1) / LIMIT_QAS) * 60,
        math.floor((n - 1) / LIMIT_QAS) * 60 + t_co,
        math.floor((n - 1) / LIMIT_GCOI) * 60,
    )
    return {"orderSeconds": t_co, "rateBoundSeconds": round(rate, 2), "windowBoundSeconds": round(window, 2)}


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


# ----------------------------------------------------------------------------- one N


def run_peer(args, n, workdir):
    """Start the peer on its own simulator; returns (sim, process, paths)."""
    doc = fleet_doc(n, args.seconds_per_instance)
    sim = Sim(args.bin, doc, workdir, f"peer-n{n}")
    fleet = workdir / f"peer-n{n}-fleet.json"
    fleet.write_text(json.dumps([{"appId": app_id(i), "eccId": f"ecc-{i}-2"} for i in range(n)]))
    out = workdir / f"peer-n{n}-result.json"
    plog = open(workdir / f"peer-n{n}.log", "w")
    proc = subprocess.Popen(
        [args.sdk_python, str(REPO / "bench" / "peer.py"), "--endpoint", f"127.0.0.1:{sim.port}",
         "--access-key-id", ACCESS_KEY_ID, "--access-key-secret", ACCESS_KEY_SECRET,
         "--fleet", str(fleet), "--out", str(out)],
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
    res = {
        "n": n,
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
            "rateLimitShare": 0.9,
            "steadySeconds": args.steady_seconds,
            "pollSeconds": args.poll_seconds,
            "peerMode": args.peer,
        },
        "bound": lower_bound(n, args.seconds_per_instance),
    }
    ns = f"{NAMESPACE_PREFIX}-n{n}-{int(time.time()) % 100000}"
    kube.namespace(ns)
    t = time.time()
    kube.run(["apply", "--server-side", "-f", "-"], stdin=memberships(ns, n))
    res["applySeconds"] = round(time.time() - t, 1)
    log(f"N={n}: {n} resources applied in namespace {ns} ({res['applySeconds']} s)")

    cleanup.append(lambda: kube.run(["delete", "edasappmemberships", "--all", "-n", ns, "--wait=false"], check=False))
    sim = Sim(args.bin, fleet_doc(n, args.seconds_per_instance), workdir, f"operator-n{n}")
    cleanup.append(sim.stop)

    peer = None
    if args.peer == "parallel":
        peer = run_peer(args, n, workdir)
        cleanup.append(lambda: (stop(peer[1]), peer[0].stop()))
        log(f"N={n}: peer started on its own simulator (runs alongside)")

    metrics_port = free_port()
    op_env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    op_env.update({"LOG_LEVEL": "info", "RUST_LOG": "info"})
    op_log = open(workdir / f"operator-n{n}.log", "w")
    cmd = [
        args.bin, "run", "--kubeconfig", env["OPERATOR_KUBECONFIG"], "--watch-namespaces", ns,
        "--edas-endpoint", sim.url, "--metrics-addr", f"127.0.0.1:{metrics_port}",
        "--concurrency", str(args.concurrency), "--resync-interval", args.resync_interval,
    ]
    res["operatorCommand"] = (
        f"edas-operator run --kubeconfig $OPERATOR_KUBECONFIG --watch-namespaces {ns} "
        f"--edas-endpoint http://127.0.0.1:SIM_PORT --metrics-addr 127.0.0.1:PORT "
        f"--concurrency {args.concurrency} --resync-interval {args.resync_interval}"
    )
    t0 = time.time()
    op = subprocess.Popen(cmd, stdout=op_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=op_env)
    cleanup.append(lambda: (stop(op), op_log.close()))
    timeout = max(600.0, 3 * res["bound"]["rateBoundSeconds"] + 300)
    log(f"N={n}: operator pid {op.pid} started; rate bound {res['bound']['rateBoundSeconds']:.0f} s; waiting up to {timeout:.0f} s for all Ready")
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
        }
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
            per_hour = qas * 3600 / args.steady_seconds
            budget = STEADY_SHARE * LIMIT_QAS * 60
            res["steady"] = {
                "seconds": args.steady_seconds,
                "calls": steady,
                "qasPerHour": round(per_hour),
                "allCallsPerHour": round(steady["total"] * 3600 / args.steady_seconds),
                "budgetPerHour": round(budget),
                "operatorPlannedPerHour": round(STEADY_SHARE * LIMIT_QAS * 0.9 * 60),
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
    res["operator"]["fleet"] = fleet_as_declared(sim_state, n)
    res["operator"]["timeline"] = timeline(calls, sim_state, int(t0 * 1000))
    # Raw material for analysis stays with the logs (too big for bench/results).
    (workdir / f"operator-n{n}-calls.json").write_text(json.dumps(calls))
    (workdir / f"operator-n{n}-sim-state.json").write_text(json.dumps(sim_state))
    sim.stop()

    if args.peer == "serial":
        log(f"N={n}: running the peer")
        peer = run_peer(args, n, workdir)
        cleanup.append(lambda: (stop(peer[1]), peer[0].stop()))
    if peer is not None:
        if peer[1].poll() is None:
            log(f"N={n}: waiting for the peer (about {n * 5.1 / 60:.0f} min in all)")
        res["peer"] = finish_peer(n, *peer, timeout=n * 30 + 600)
        log(f"N={n}: peer done in {res['peer'].get('seconds')} s")
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
    peer = res.get("peer", {})
    if peer.get("ran") and not peer.get("fleet", {}).get("ok"):
        problems.append("simulator fleet not as declared after the peer run")
    return problems


# ----------------------------------------------------------------------------- report


def fmt_s(s):
    if s is None:
        return "–"
    if s >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


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
    the interval stretched so resyncs use at most half its 90% share (fleet_resync)."""
    n = r["n"]
    interval = max(duration_s(r["params"]["resyncInterval"]), n * 60 / (STEADY_SHARE * LIMIT_QAS * 0.9))
    return round(n * 3600 / interval)


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
        print("no results in bench/results/", file=sys.stderr)
        return
    machines = {json.dumps(r["machine"], sort_keys=True) for r in results}
    params = {json.dumps({k: v for k, v in r["params"].items()}, sort_keys=True) for r in results}
    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Generated by `bench/run.py` from the figures it measured (`bench/results/n*.json`); do not edit")
    w("by hand. Re-run with `hack/bench.sh [N ...]` (default `50 200`); `bench/run.py --report`")
    w("rewrites this file from the stored results.")
    w("")
    w("What it does per N: a fresh EDAS simulator holding N apps with 2 running ECCs each; N")
    w("`EdasAppMembership` resources (one per app, 1 declared member, so each needs exactly one")
    w("change order removing one instance) applied in one `kubectl apply` to a real kube-apiserver;")
    w("then the release binary started as `edas-operator run` with the limited RBAC identity, and the")
    w("resources polled until all are `Ready=True` with reason `Converged`. The operator then keeps")
    w("running for a steady-state window. EDAS calls come from the simulator's call log")
    w("(`GET /_sim/calls`), peak RSS is `VmHWM` and CPU is `utime+stime` of the operator process.")
    w("The peer does the same fleet on its own simulator with the official Python SDK, the way")
    w("Terraform's `alicloud_edas_application_scale` does it (`bench/peer.py`).")
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
        w(f"- Parameters (N = {', '.join(ns_)}): change orders of one instance with `secondsPerInstance` D = {p['secondsPerInstance']} s")
        w(f"  (an order takes 1.5 D = {1.5 * p['secondsPerInstance']:g} s in the simulator: D/2 queued at status 0, then D for its task);")
        w(f"  {p['limits']}; {p['accessKeys']} access key for the whole fleet;")
        w(f"  operator `--concurrency {p['concurrency']} --resync-interval {p['resyncInterval']}`, default `--rate-limit-share 0.9`;")
        w(f"  readiness polled every {p['pollSeconds']} s (so operator times are rounded up by up to one poll);")
        w(f"  steady-state window {p['steadySeconds']} s; peer run {'alongside the operator, on its own simulator' if p['peerMode'] == 'parallel' else p['peerMode']}.")
    srcs = sorted({f"{r['source']['gitRev']}{' + local changes in src/' if r['source']['srcModified'] else ''}" for r in results})
    w(f"- Operator source: {', '.join(srcs)}.")
    w("")
    w("## The lower bound")
    w("")
    w("Whatever the client, each app needs: one `QueryApplicationStatus` before its scale-in (to know")
    w("what runs), the order itself (t_co = 1.5 D here), at least one `GetChangeOrderInfo` that sees")
    w("the order finished, and one `QueryApplicationStatus` after it (to report `Ready` from an")
    w("observation, not an assumption). `ScaleInApplication` and `ListRecentChangeOrder` have no")
    w("documented limit. With one access key and the documented per-key limits L_q = L_g = 100/min:")
    w("")
    w("- the 2N `QueryApplicationStatus` calls need 2N / L_q minutes;")
    w("- the last \"before\" call is at least the N-th call of that operation (N / L_q), and its")
    w("  app's \"after\" call must wait for that app's order: N / L_q + t_co;")
    w("- the N polls need N / L_g minutes on their own budget, in parallel, which never binds here.")
    w("")
    t_cos = sorted({1.5 * r["params"]["secondsPerInstance"] for r in results})
    w("**bound = max(2N / L_q, N / L_q + t_co, N / L_g)**. From N = L_q · t_co / 60 on")
    w(f"({', '.join(f'{LIMIT_QAS * t / 60:g} apps for t_co = {t:g} s' for t in t_cos)}) the first term is the largest, so")
    w("the bound is 2N / 100 minutes: the `QueryApplicationStatus` budget, not the orders, sets the")
    w("pace. It treats the limit as a sustained rate. The gateway (and the simulator) count calls in a sliding 60 s")
    w("window, so a client that starts with a full minute's burst could finish up to 60 s sooner")
    w("(k-th call no earlier than ⌊(k−1)/L⌋ minutes); that stricter \"window bound\" is shown too.")
    w("The operator deliberately allows itself 90% of each limit (`--rate-limit-share`) with a small")
    w("burst, so at large N its best possible time / bound is 1 / 0.9 ≈ 1.11.")
    w("")
    w("## Time to converge")
    w("")
    w("| N | operator | rate bound | **operator / bound** | (window bound) | 50% / 90% Ready | peer (Terraform pattern) | **peer / operator** |")
    w("|---|---|---|---|---|---|---|---|")
    for r in results:
        op = r["operator"]
        b = r["bound"]
        peer = r.get("peer", {})
        op_s = op.get("seconds")
        peer_s = peer.get("seconds") if peer.get("ran") else None
        peer_cell = fmt_s(peer_s) if peer.get("ran") else f"not run ({peer.get('reason', '')})"
        w(
            f"| {r['_row']} | {fmt_s(op_s) if op.get('allReady') else 'did not converge'} | {fmt_s(b['rateBoundSeconds'])} | **{fmt_r(ratio(op_s, b['rateBoundSeconds']))}** "
            f"| ({fmt_s(b['windowBoundSeconds'])}) "
            f"| {fmt_s(op.get('secondsTo50pct'))} / {fmt_s(op.get('secondsTo90pct'))} | {peer_cell} | **{fmt_r(ratio(peer_s, op_s), 1)}** |"
        )
    w("")
    w("## EDAS calls, throttling, resources")
    w("")
    w("Operator calls are counted from its start until all resources were Ready.")
    w("")
    w("| N | QueryApplicationStatus | GetChangeOrderInfo | ListRecentChangeOrder | ScaleInApplication | calls per converged change | polls per order | peak QAS / GCOI in any 60 s | throttled (operator / peer) | peer calls (ScaleIn + GCOI) | peak RSS | CPU to Ready / whole run |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        op = r["operator"]
        c = op["calls"]
        ba = c["byAction"]
        n = r["n"]
        peer = r.get("peer", {})
        if peer.get("ran"):
            pba = peer["calls"]["byAction"]
            peer_calls = f"{peer['calls']['total']} ({pba.get('ScaleInApplication', 0)} + {pba.get('GetChangeOrderInfo', 0)}; {peer.get('pollsPerOrder', 0):.2f} polls/order)"
            peer_thr = str(peer["calls"]["throttled"])
        else:
            peer_calls, peer_thr = "not run", "–"
        end = op.get("end", op.get("atReady", {}))
        w(
            f"| {r['_row']} | {ba.get('QueryApplicationStatus', 0)} | {ba.get('GetChangeOrderInfo', 0)} | {ba.get('ListRecentChangeOrder', 0)} "
            f"| {ba.get('ScaleInApplication', 0)} | {c['total'] / n:.2f} | {ba.get('GetChangeOrderInfo', 0) / n:.2f} "
            f"| {c['peakPer60s'].get('QueryApplicationStatus', 0)} / {c['peakPer60s'].get('GetChangeOrderInfo', 0)} "
            f"| {op['allCalls']['throttled']} / {peer_thr} | {peer_calls} | {end.get('peakRssMiB', 0):.1f} MiB "
            f"| {op['atReady']['cpuSeconds']:.1f} s / {end.get('cpuSeconds', 0):.1f} s |"
        )
    w("")
    w("## Steady state")
    w("")
    w("After every resource is Ready the operator keeps running; each converged resource is")
    w("re-observed (drift) at the configured interval, spread out as the fleet grows so periodic")
    w(f"resyncs use at most {int(STEADY_SHARE * 100)}% of the `QueryApplicationStatus` budget. Budget below = {int(STEADY_SHARE * 100)}% of the")
    w(f"documented {LIMIT_QAS}/min = {int(STEADY_SHARE * LIMIT_QAS * 60)}/h (the operator aims at {int(STEADY_SHARE * 100)}% of its 90% share, {int(STEADY_SHARE * LIMIT_QAS * 0.9 * 60)}/h).")
    w("The window starts when the last resource became Ready. Where the spread-out interval")
    w("(N · 60 / 45 s) is longer than the window, the window sees the resyncs of the resources that")
    w("converged first, i.e. the rate the spreading sets, sampled over the window.")
    w("")
    w("| N | window | EDAS calls in window | QueryApplicationStatus per hour | operator's plan per hour | budget per hour | share of budget | peak QAS in any 60 s | within budget |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        st = r.get("steady")
        if not st:
            w(f"| {r['_row']} | – | – | – | – | – | – | – | not measured (did not converge) |")
            continue
        w(
            f"| {r['_row']} | {st['seconds']} s | {st['calls']['total']} | {st['qasPerHour']} | {planned_per_hour(r)} | {st['budgetPerHour']} "
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
    w("## Targets (issue 7)")
    w("")
    w("| N | time / bound ≤ 1.2 (set for N = 1000) | zero throttled calls | peak RSS < 100 MiB | steady state within budget | ahead of the peer |")
    w("|---|---|---|---|---|---|")
    for r in results:
        op = r["operator"]
        op_s = op.get("seconds")
        rb = ratio(op_s, r["bound"]["rateBoundSeconds"])
        end = op.get("end", op.get("atReady", {}))
        peer = r.get("peer", {})
        peer_s = peer.get("seconds") if peer.get("ran") else None
        yn = lambda ok: "met" if ok else "**not met**"  # noqa: E731
        w(
            f"| {r['_row']} | {yn(rb is not None and rb <= 1.2)} ({fmt_r(rb)}) | {yn(op['allCalls']['throttled'] == 0)} ({op['allCalls']['throttled']}) "
            f"| {yn(end.get('peakRssMiB', 1e9) < 100)} ({end.get('peakRssMiB', 0):.1f} MiB) "
            f"| {yn(bool(r.get('steady', {}).get('withinBudget')))} "
            f"| {('not run' if not peer.get('ran') else yn(bool(op_s and peer_s and peer_s > op_s)) + f' ({fmt_r(ratio(peer_s, op_s), 1)}x)')} |"
        )
    w("")
    if any("(" in r["_row"] for r in results):
        w("Rows with a tag, e.g. \"200 (repeat)\", are further runs of the same N (`--tag`), kept to show")
        w("the run-to-run spread on this shared machine.")
        w("")
    w("The issue sets the time / bound target at N = 1000; smaller N are shown against the same")
    w("yardstick. Raw figures (per-operation peaks, failures, fleet checks, commands) are in")
    w("`bench/results/n<N>.json`.")
    w("")
    BENCHMARKS_MD.write_text("\n".join(out))
    log(f"wrote {BENCHMARKS_MD} from {len(results)} result(s)")


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ns", nargs="*", type=int, help="fleet sizes (default 50 200)")
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
    if args.peer != "skip" and not args.sdk_python:
        ap.error("--sdk-python is required unless --peer skip")
    ns_list = args.ns or [50, 200]
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
        (RESULTS / f"n{n}{'-' + args.tag if args.tag else ''}.json").write_text(json.dumps(res, indent=1) + "\n")
        (workdir / f"n{n}-result.json").write_text(json.dumps(res, indent=1) + "\n")
        op = res["operator"]
        log(
            f"N={n}: operator {op.get('seconds')} s (bound {res['bound']['rateBoundSeconds']} s), "
            f"peer {res['peer'].get('seconds', 'not run')} s, throttled {op['allCalls']['throttled']}, "
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
