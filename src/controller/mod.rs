//! Controller wiring: the Context shared by reconciles, credentials and EDAS clients per
//! resource, the error policy with per-object backoff, start-up and shutdown.

pub mod conditions;
pub mod decide;
pub mod events;
pub mod failpoint;
pub mod leader;
pub mod lookup;
pub mod plan;
pub mod reconcile;
pub mod status;
pub mod timing;

use crate::cli::{EdasArgs, RunArgs};
use crate::crd::EdasAppMembership;
use crate::edas::budget::CallBudget;
use crate::edas::client::CallObserver;
use crate::edas::provider::{self, CredentialsProvider, SourceError};
use crate::edas::sts::{RoleRequest, StsClient};
use crate::edas::{ClientConfig, Credentials, EdasApi, EdasClient};
use crate::metrics::Metrics;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::Predicate;
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, ResourceExt};
use rand::RngExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Errors that end a reconcile early. EDAS failures are turned into conditions inside the
/// reconcile; what reaches here (the apiserver refusing a status write) is retried with
/// per-object backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing status of {object}: {source}")]
    WriteStatus {
        object: String,
        #[source]
        source: kube::Error,
    },
    /// A conditional status write found a newer version of the object: the pass read a stale
    /// object, so it must not act on it.
    #[error("status of {object} not written: {why}")]
    Fenced { object: String, why: String },
}

/// (identity, region): which identity a client signs as (`operator`, `secret:NS/NAME`,
/// `role:NS/NAME`), and where.
type ClientKey = (String, String);

/// A client, the fingerprint of the credentials it holds, and when it was last handed out.
type CachedClient = (Arc<dyn EdasApi>, String, std::time::Instant);

/// A role a Secret names: (namespace/name, role ARN, external id, session name, caller), the
/// caller being `operator` or the fingerprint of the Secret's own AccessKey.
type RoleKey = (String, String, Option<String>, String, String);

/// Where EDAS clients come from: per (identity, region), cached; a refreshed or rotated key
/// replaces the client that held the old one.
pub struct EdasClients {
    pub config: ClientConfig,
    pub http: reqwest::Client,
    pub budget: Arc<CallBudget>,
    pub observer: Arc<dyn CallObserver>,
    /// The operator's own identity (the credentials chain), if it has one.
    pub own: Option<Arc<CredentialsProvider>>,
    pub default_namespaces: BTreeSet<String>,
    /// STS, for the roles Secrets name.
    pub sts: StsClient,
    cache: Mutex<HashMap<ClientKey, CachedClient>>,
    roles: Mutex<HashMap<RoleKey, (Arc<CredentialsProvider>, std::time::Instant)>>,
}

impl EdasClients {
    pub fn new(
        edas: &EdasArgs,
        observer: Arc<dyn CallObserver>,
        default_namespaces: BTreeSet<String>,
    ) -> anyhow::Result<Self> {
        let config = edas.client_config()?;
        let http = crate::edas::client::http_client(&config).map_err(anyhow::Error::msg)?;
        let own = edas.own_identity(http.clone())?.map(Arc::new);
        let sts_url = edas
            .chain_settings()?
            .sts
            .resolve()
            .map_err(anyhow::Error::msg)?;
        if let Some(p) = &own {
            tracing::info!(source = %p.describe(), "the operator's own identity");
        }
        Ok(Self {
            config,
            sts: StsClient::new(http.clone(), sts_url),
            http,
            budget: edas.budget()?,
            observer,
            own,
            default_namespaces,
            cache: Mutex::new(HashMap::new()),
            roles: Mutex::new(HashMap::new()),
        })
    }

    /// The client of `identity` in `region`, holding `creds`. A client holding other
    /// credentials of the same identity (a rotated Secret, refreshed STS keys) is replaced, so
    /// the old secret is not kept.
    pub fn client(
        &self,
        identity: &str,
        creds: &Credentials,
        region: &str,
    ) -> Result<Arc<dyn EdasApi>, String> {
        // The secret's digest tells a rotated key apart; the secret itself is never a key.
        let fingerprint = creds.fingerprint();
        let key = (identity.to_string(), region.to_string());
        let mut cache = crate::lock(&self.cache);
        if let Some((c, fp, used)) = cache.get_mut(&key)
            && *fp == fingerprint
        {
            *used = std::time::Instant::now();
            return Ok(c.clone());
        }
        // Temporary keys change at every refresh: their calls count against the identity's
        // budget, not a fresh one per key; long-lived keys count per key, as EDAS counts.
        let budget_key = if creds.expiration().is_some() {
            identity.to_string()
        } else {
            creds.access_key_id().to_string()
        };
        let client = EdasClient::new(
            self.http.clone(),
            creds.clone(),
            region,
            self.config.clone(),
        )?
        .with_budget(self.budget.clone())
        .with_budget_key(budget_key)
        .yield_over(BUDGET_WAIT_IN_LINE)
        .with_observer(self.observer.clone());
        let client: Arc<dyn EdasApi> = Arc::new(client);
        cache.insert(
            key,
            (client.clone(), fingerprint, std::time::Instant::now()),
        );
        Ok(client)
    }

    /// The provider of a role a Secret names, made once and kept while used.
    fn role_provider(
        &self,
        key: RoleKey,
        make: impl FnOnce() -> CredentialsProvider,
    ) -> Arc<CredentialsProvider> {
        let mut roles = crate::lock(&self.roles);
        let entry = roles
            .entry(key)
            .or_insert_with(|| (Arc::new(make()), std::time::Instant::now()));
        entry.1 = std::time::Instant::now();
        entry.0.clone()
    }

    /// Clients unused for this long (deleted resources, expired STS keys) are dropped, with
    /// the secrets they hold.
    pub const IDLE: Duration = Duration::from_secs(900);

    /// Drop idle clients and role providers, and the budget windows of keys no longer used.
    pub fn prune(&self) {
        crate::lock(&self.cache).retain(|_, (_, _, used)| used.elapsed() < Self::IDLE);
        crate::lock(&self.roles).retain(|_, (_, used)| used.elapsed() < Self::IDLE);
        self.budget
            .prune_idle(std::time::Instant::now(), Self::IDLE);
    }

    /// Clients cached now.
    pub fn cached(&self) -> usize {
        crate::lock(&self.cache).len()
    }

    /// The operator's own credentials, for a resource in `ns`; the error says why not.
    async fn own_credentials(&self, ns: &str, why: &str) -> Result<Credentials, SourceError> {
        if !self.default_namespaces.contains(ns) {
            return Err(format!(
                "{why} and namespace {ns} is not allowed to use the operator's own credentials \
                 (--default-credentials-namespaces)"
            )
            .into());
        }
        match &self.own {
            Some(p) => p.credentials().await,
            None => Err(format!(
                "{why} and the operator has no credentials of its own (no \
                 ALIBABA_CLOUD_ACCESS_KEY_ID, no RRSA variables, ECS metadata disabled)"
            )
            .into()),
        }
    }
}

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub edas: EdasClients,
    pub store: Store<EdasAppMembership>,
    pub resync: Duration,
    /// The timing knobs from the flags; `policy()` adds the spec's.
    pub timing: timing::Policy,
    pub order_durations: timing::OrderDurations,
    /// Leader election's Lease, checked right before every ScaleIn.
    pub lease: Option<leader::LeaseFence>,
    /// ListDeployGroup and ListScaleOutEcu answers shared between resources.
    pub lookups: lookup::Lookups,
    /// Resources whose additions wait for the read that shows them healthy.
    awaiting: Mutex<std::collections::HashSet<String>>,
    backoff: Mutex<HashMap<String, u32>>,
    /// Set once the calls recorded in status were counted against the budget.
    budget_seeded: tokio::sync::OnceCell<()>,
}

/// A reconcile waits this long at most for the call budget while holding a worker; a longer
/// wait ends the pass (nothing recorded) and requeues it for when the budget allows the call,
/// so the workers stay free for the calls that can go out now (polls on their own budget).
pub const BUDGET_WAIT_IN_LINE: Duration = Duration::from_secs(1);

/// Share of the QueryApplicationStatus budget that periodic resyncs may use in steady state.
pub const RESYNC_BUDGET_SHARE: f64 = 0.5;

/// The resync interval for a fleet of `n` resources: at least `configured`, and long enough
/// that `n` resyncs a period use at most `share` of `per_minute` observations. Pure.
pub fn fleet_resync(
    configured: Duration,
    n: usize,
    per_minute: Option<f64>,
    share: f64,
) -> Duration {
    match per_minute {
        Some(limit) if limit > 0.0 && share > 0.0 => {
            let needed = Duration::from_secs_f64(n as f64 * 60.0 / (limit * share));
            configured.max(needed)
        }
        _ => configured,
    }
}

/// The EDAS calls the resources' status recorded within the budget's window before `now_ms`
/// (QueryApplicationStatus at `lastObservedAt`, GetChangeOrderInfo at the followed order's
/// `lastPolledAt`), as milliseconds before now. Status times are whole seconds, cut down:
/// each call is taken as a second later than recorded, so it stays counted long enough. Pure.
pub fn recorded_calls(
    statuses: &[&crate::crd::EdasAppMembershipStatus],
    now_ms: i64,
) -> Vec<(crate::edas::Operation, i64)> {
    use crate::edas::Operation;
    let window = crate::edas::budget::WINDOW.as_millis() as i64;
    let mut calls = Vec::new();
    for st in statuses {
        let polled = st
            .change_order
            .as_ref()
            .and_then(|c| c.last_polled_at.as_deref());
        for (op, at) in [
            (
                Operation::QueryApplicationStatus,
                st.last_observed_at.as_deref(),
            ),
            (Operation::GetChangeOrderInfo, polled),
        ] {
            let Some(t) = at.and_then(status::parse_rfc3339_ms) else {
                continue;
            };
            let ago = (now_ms - t - 1000).max(0);
            if ago < window {
                calls.push((op, ago));
            }
        }
    }
    calls
}

/// Wait until the store has listed every resource.
async fn store_synced(store: &Store<EdasAppMembership>) -> bool {
    // Re-poll on a timer: the store's readiness signal wakes only one waiter, and the
    // controller itself waits on it too.
    loop {
        match tokio::time::timeout(Duration::from_millis(250), store.wait_until_ready()).await {
            Ok(Ok(())) => return true,
            Ok(Err(_)) => return false,
            Err(_) => continue,
        }
    }
}

impl Context {
    /// Once, before this process's first EDAS call: count the calls a previous run or
    /// another leader made in the last window, as far as the resources' status recorded
    /// them, against the budget (every key's, since status does not say which key).
    pub async fn remember_recorded_calls(&self) {
        self.budget_seeded
            .get_or_init(|| async {
                if !store_synced(&self.store).await {
                    return;
                }
                let objects = self.store.state();
                let statuses: Vec<&crate::crd::EdasAppMembershipStatus> =
                    objects.iter().filter_map(|o| o.status.as_ref()).collect();
                let now = std::time::Instant::now();
                let calls = recorded_calls(&statuses, status::now_ms());
                for op in [
                    crate::edas::Operation::QueryApplicationStatus,
                    crate::edas::Operation::GetChangeOrderInfo,
                ] {
                    let at: Vec<std::time::Instant> = calls
                        .iter()
                        .filter(|(o, _)| *o == op)
                        .filter_map(|(_, ago)| now.checked_sub(Duration::from_millis(*ago as u64)))
                        .collect();
                    if !at.is_empty() {
                        tracing::info!(
                            operation = op.name(),
                            calls = at.len(),
                            "counting calls recorded in status against the budget"
                        );
                    }
                    self.edas.budget.remember(op, &at);
                }
            })
            .await;
    }

    /// Periodic resync, spread as the fleet grows so steady state stays inside the budget.
    /// The jitter is wide (0.5 to 1.5 of the interval, the same mean): resources that
    /// converged together (a fleet applied at once) would otherwise make their confirming
    /// observations together, a minute's worth of the budget in a few seconds.
    pub fn resync_interval(&self) -> Duration {
        let n = self.store.len();
        let per_minute = self
            .edas
            .budget
            .config()
            .effective_per_minute(crate::edas::Operation::QueryApplicationStatus);
        let base = fleet_resync(self.resync, n, per_minute, RESYNC_BUDGET_SHARE);
        base.mul_f64(rand::rng().random_range(0.5..=1.5))
    }

    /// Remember whether the resource `key` waits for the read that shows its additions
    /// healthy (planning passes leave reads for those).
    pub fn note_awaiting(&self, key: &str, awaiting: bool) {
        let mut set = crate::lock(&self.awaiting);
        if awaiting {
            set.insert(key.to_string());
        } else {
            set.remove(key);
        }
    }

    pub fn awaiting_healthy_reads(&self) -> usize {
        crate::lock(&self.awaiting).len()
    }

    /// Per-object exponential backoff with jitter (kube has none built in).
    pub fn next_backoff(&self, key: &str) -> Duration {
        let mut map = crate::lock(&self.backoff);
        let n = map.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let base = Duration::from_secs(2).saturating_mul(1u32 << (*n).min(8));
        let capped = base.min(Duration::from_secs(300));
        Duration::from_secs_f64(capped.as_secs_f64() * rand::rng().random_range(0.5..=1.0))
    }

    pub fn reset_backoff(&self, key: &str) {
        let mut map = crate::lock(&self.backoff);
        map.remove(key);
    }

    /// The timing policy for one resource.
    pub fn policy(&self, spec: &crate::crd::EdasAppMembershipSpec) -> timing::Policy {
        timing::Policy {
            change_order_timeout: spec
                .change_order_timeout()
                .unwrap_or(timing::Policy::default().change_order_timeout),
            ..self.timing.clone()
        }
    }

    /// Right before a ScaleIn: this replica still holds the Lease (read fresh from the
    /// apiserver, not from the lease manager's last renewal). Without leader election, yes.
    pub async fn check_leadership(&self) -> Result<(), String> {
        match &self.lease {
            Some(l) => l.check(&self.client).await,
            None => Ok(()),
        }
    }

    /// Drop per-resource state of resources that are gone (deleted resources never
    /// reconcile again): the Ready gauge entry and the backoff counter.
    pub fn prune(&self) {
        let live: std::collections::HashSet<String> =
            self.store.state().iter().map(|o| object_key(o)).collect();
        self.metrics.retain_objects(|k| live.contains(k));
        crate::lock(&self.backoff).retain(|k, _| live.contains(k));
        crate::lock(&self.awaiting).retain(|k| live.contains(k));
        self.edas.prune();
    }

    /// The credentials a resource may use, with the identity they belong to: its Secret's
    /// AccessKey; a role its Secret names, assumed by the Secret's AccessKey or (where the
    /// namespace is allowed) by the operator's own identity; or the operator's own only where
    /// its namespace was allowed.
    pub async fn credentials_for(
        &self,
        obj: &EdasAppMembership,
    ) -> Result<(String, Credentials), SourceError> {
        let ns = obj.namespace().unwrap_or_default();
        let Some(r) = &obj.spec.credentials_secret_ref else {
            let creds = self
                .edas
                .own_credentials(&ns, "spec.credentialsSecretRef is not set")
                .await?;
            return Ok(("operator".to_string(), creds));
        };
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        let secret = match secrets.get(&r.name).await {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(format!("Secret {ns}/{} not found", r.name).into());
            }
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(format!(
                    "the operator may not read Secret {ns}/{}: bind the ClusterRole \
                     edas-operator-credentials-reader in namespace {ns} (see deploy/examples)",
                    r.name
                )
                .into());
            }
            Err(e) => {
                // The apiserver did not answer: a later try may succeed.
                return Err(SourceError {
                    message: format!("reading Secret {ns}/{}: {e}", r.name),
                    unavailable: true,
                });
            }
        };
        let data: std::collections::BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let source = format!("{ns}/{}", r.name);
        let text = |key: &'static str| -> Result<Option<String>, String> {
            match data.get(key) {
                None => Ok(None),
                Some(v) => match std::str::from_utf8(v) {
                    Ok(s) if s.trim().is_empty() => Ok(None),
                    Ok(s) => Ok(Some(s.trim().to_string())),
                    Err(_) => Err(format!("Secret {source}: key {key} is not valid UTF-8")),
                },
            }
        };
        let Some(role_arn) = text(provider::ENV_ROLE_ARN)? else {
            let creds = Credentials::from_secret_data(&source, &data).map_err(|e| e.to_string())?;
            return Ok((format!("secret:{source}"), creds));
        };
        let role = RoleRequest {
            role_arn,
            session_name: text(provider::ENV_ROLE_SESSION_NAME)?
                .unwrap_or_else(|| provider::DEFAULT_SESSION_NAME.into()),
            external_id: text(provider::ENV_EXTERNAL_ID)?,
            duration_seconds: crate::edas::sts::DEFAULT_DURATION_SECONDS,
        };
        // The Secret's own AccessKey assumes the role; without one, the operator's identity
        // does, where the namespace is allowed to use it.
        let caller: Arc<CredentialsProvider> =
            if text(crate::edas::credentials::ENV_ACCESS_KEY_ID)?.is_some() {
                let c = Credentials::from_secret_data(&source, &data).map_err(|e| e.to_string())?;
                Arc::new(CredentialsProvider::fixed(
                    &format!("Secret {source}"),
                    c,
                    self.edas.http.clone(),
                ))
            } else {
                if !self.edas.default_namespaces.contains(&ns) {
                    return Err(format!(
                        "Secret {source} names role {} to be assumed by the operator's own \
                         identity ({} without an AccessKey), and namespace {ns} is not allowed \
                         to use it (--default-credentials-namespaces)",
                        role.role_arn,
                        provider::ENV_ROLE_ARN
                    )
                    .into());
                }
                self.edas.own.clone().ok_or_else(|| {
                    format!(
                        "Secret {source} names role {} to be assumed by the operator's own \
                         identity, and the operator has none",
                        role.role_arn
                    )
                })?
            };
        let caller_id = match caller.source() {
            provider::Source::Static { credentials, .. } => credentials.fingerprint(),
            _ => "operator".to_string(),
        };
        let key: RoleKey = (
            source.clone(),
            role.role_arn.clone(),
            role.external_id.clone(),
            role.session_name.clone(),
            caller_id,
        );
        let sts = self.edas.sts.clone();
        let http = self.edas.http.clone();
        let p = self.edas.role_provider(key, move || {
            CredentialsProvider::new(
                provider::Source::AssumeRole { caller, role },
                Some(sts),
                http,
            )
        });
        let creds = p.credentials().await?;
        Ok((format!("role:{source}"), creds))
    }
}

pub fn object_key(obj: &EdasAppMembership) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

fn error_policy(obj: Arc<EdasAppMembership>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = object_key(&obj);
    let wait = ctx.next_backoff(&key);
    tracing::warn!(object = %key, error = %err, retry_in_ms = wait.as_millis() as u64, "reconcile failed");
    ctx.metrics
        .reconcile_errors
        .get_or_create(&crate::metrics::ReasonLabel {
            reason: match err {
                Error::WriteStatus { .. } => "StatusWrite".into(),
                Error::Fenced { .. } => "Fenced".into(),
            },
        })
        .inc();
    Action::requeue(wait)
}

async fn kube_client(kubeconfig: &Option<std::path::PathBuf>) -> anyhow::Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// `edas-operator run`: the wiring. Refuse bad flags, serve health and metrics, wait for the
/// Lease, then watch and reconcile until shutdown or the Lease is lost.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // Refuse a bad endpoint or budget before anything starts.
    args.edas.client_config()?;
    args.edas.budget()?;
    let client = kube_client(&args.kubeconfig).await?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let shutdown = Shutdown::on_signal();
    let health = crate::server::Health {
        ready: ready.clone(),
        metrics: metrics.clone(),
    };
    let server = tokio::spawn(crate::server::serve(
        args.metrics_addr,
        health,
        shutdown.wait(),
    ));
    let leadership = lead(&client, &args, &ready, &shutdown).await?;
    if shutdown.requested() {
        return Ok(());
    }

    let (reader, writer) = reflector::store::<EdasAppMembership>();
    let ctx = Arc::new(context(&client, &args, metrics, reader.clone())?);
    let namespaces: Vec<String> = entries(&args.watch_namespaces).collect();
    let trigger = watch_stream(client, &namespaces, writer);
    spawn_readiness(reader.clone(), ready);
    spawn_pruning(ctx.clone());
    let stop = stop_on(&shutdown, leadership.clone());
    tracing::info!(namespaces = ?namespaces, "starting controller");
    run_controller(
        trigger,
        reader,
        ctx,
        stop,
        leadership.clone(),
        args.concurrency,
    )
    .await;

    if let Some(l) = leadership {
        l.release().await;
    }
    let lost_leadership = !shutdown.requested();
    server.abort();
    tracing::info!("controller stopped");
    if lost_leadership && args.leader_election {
        anyhow::bail!("lost leadership");
    }
    Ok(())
}

/// One shutdown signal (SIGTERM or Ctrl-C), fanned out to the web server, leader election
/// and the controller.
#[derive(Clone)]
struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    fn on_signal() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::shutdown_signal().await;
            tracing::info!("shutdown signal received");
            let _ = tx.send(true);
        });
        Self(rx)
    }

    /// Resolves once shutdown was asked for.
    fn wait(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    }

    fn requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// With leader election, wait for the Lease: only the replica holding it talks to EDAS.
async fn lead(
    client: &Client,
    args: &RunArgs,
    ready: &AtomicBool,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<leader::Leadership>> {
    if !args.leader_election {
        return Ok(None);
    }
    // A standby serves and is ready; it only does not act. Readiness falls back to the
    // cache sync once it leads.
    ready.store(true, Ordering::SeqCst);
    let l = leader::acquire(client.clone(), args, shutdown.wait()).await?;
    ready.store(false, Ordering::SeqCst);
    Ok(Some(l))
}

/// A list flag's entries, trimmed, empty ones dropped.
fn entries(list: &[String]) -> impl Iterator<Item = String> + '_ {
    list.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The Context shared by reconciles. Fails on bad credentials in the environment.
fn context(
    client: &Client,
    args: &RunArgs,
    metrics: Arc<Metrics>,
    store: Store<EdasAppMembership>,
) -> anyhow::Result<Context> {
    let observer: Arc<dyn CallObserver> = metrics.clone();
    let edas = EdasClients::new(
        &args.edas,
        observer,
        entries(&args.default_credentials_namespaces).collect(),
    )?;
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(leader::default_identity);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "edas-operator".into(),
            instance: Some(identity),
        },
    );
    Ok(Context {
        client: client.clone(),
        recorder,
        metrics,
        edas,
        store,
        resync: args.resync_interval,
        timing: timing::Policy {
            edas_timeout: args.edas.edas_timeout,
            read_lag_holdoff: args.read_lag_holdoff,
            forced_holdoff: args.forced_holdoff,
            failure_backoff: args.failure_backoff,
            ..timing::Policy::default()
        },
        order_durations: Default::default(),
        lease: args
            .leader_election
            .then(|| leader::LeaseFence::from_args(args)),
        lookups: Default::default(),
        awaiting: Mutex::new(Default::default()),
        backoff: Mutex::new(HashMap::new()),
        budget_seeded: tokio::sync::OnceCell::new(),
    })
}

type WatchEvents = BoxStream<'static, Result<watcher::Event<EdasAppMembership>, watcher::Error>>;

/// The watch of EdasAppMemberships in `namespaces` (all namespaces when empty).
fn watch(client: Client, namespaces: &[String]) -> WatchEvents {
    let wc = watcher::Config::default();
    // One namespace: a namespaced watch (RBAC may then be a RoleBinding). Several: one
    // cluster-wide watch filtered here, because merging several watches into one reflector
    // would let each namespace's re-list replace the others' objects in the store.
    match namespaces {
        [] => watcher(Api::<EdasAppMembership>::all(client), wc).boxed(),
        [one] => watcher(Api::<EdasAppMembership>::namespaced(client, one), wc).boxed(),
        several => {
            let allowed: BTreeSet<String> = several.iter().cloned().collect();
            watcher(Api::<EdasAppMembership>::all(client), wc)
                .try_filter_map(move |ev| {
                    let keep = |o: &EdasAppMembership| {
                        o.namespace().is_some_and(|ns| allowed.contains(&ns))
                    };
                    let ev = match ev {
                        watcher::Event::Apply(o)
                        | watcher::Event::InitApply(o)
                        | watcher::Event::Delete(o)
                            if !keep(&o) =>
                        {
                            None
                        }
                        other => Some(other),
                    };
                    futures::future::ready(Ok(ev))
                })
                .boxed()
        }
    }
}

/// What wakes a reconcile: the watch, feeding the reflector's store on the way.
fn watch_stream(
    client: Client,
    namespaces: &[String],
    writer: reflector::store::Writer<EdasAppMembership>,
) -> impl Stream<Item = Result<EdasAppMembership, watcher::Error>> + Send + 'static {
    // Our own status writes must not wake us: only spec (generation) and annotation
    // (pause) changes do; change orders are followed by requeue.
    watch(client, namespaces)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation.combine(predicates::annotations),
            Default::default(),
        )
}

/// Readiness turns true once the store has synced.
fn spawn_readiness(reader: Store<EdasAppMembership>, ready: Arc<AtomicBool>) {
    tokio::spawn(async move {
        if store_synced(&reader).await {
            ready.store(true, Ordering::SeqCst);
            tracing::info!("caches synced");
        }
    });
}

/// Per-resource state of deleted resources, idle EDAS clients: pruned every minute.
fn spawn_pruning(ctx: Arc<Context>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            ctx.prune();
        }
    });
}

/// Resolves on shutdown, or when this replica loses the Lease.
fn stop_on(
    shutdown: &Shutdown,
    leadership: Option<leader::Leadership>,
) -> impl Future<Output = ()> + Send + Sync + 'static {
    let lost = async move {
        match leadership {
            Some(l) => l.lost().await,
            None => std::future::pending::<()>().await,
        }
    };
    let shutdown = shutdown.wait();
    async move {
        tokio::select! {
            _ = shutdown => {},
            _ = lost => tracing::error!("leadership lost; stopping the controller"),
        }
    }
}

/// Reconcile until `stop`, counting results.
async fn run_controller(
    trigger: impl Stream<Item = Result<EdasAppMembership, watcher::Error>> + Send + 'static,
    store: Store<EdasAppMembership>,
    ctx: Arc<Context>,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
    leadership: Option<leader::Leadership>,
    concurrency: u16,
) {
    let metrics = ctx.metrics.clone();
    Controller::for_stream(trigger, store)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(stop)
        .run(
            move |obj, ctx| reconcile_while_leading(obj, ctx, leadership.clone()),
            error_policy,
            ctx,
        )
        .for_each(|res| {
            let metrics = metrics.clone();
            async move {
                let result = if res.is_ok() { "ok" } else { "error" };
                metrics
                    .reconciles
                    .get_or_create(&crate::metrics::ResultLabel {
                        result: result.into(),
                    })
                    .inc();
                if let Err(e) = res {
                    tracing::debug!(error = %e, "reconcile error");
                }
            }
        })
        .await;
}

/// A reconcile; one in flight stops when the Lease is lost.
async fn reconcile_while_leading(
    obj: Arc<EdasAppMembership>,
    ctx: Arc<Context>,
    leadership: Option<leader::Leadership>,
) -> Result<Action, Error> {
    match leadership {
        Some(l) => tokio::select! {
            r = reconcile::reconcile(obj, ctx) => r,
            _ = l.lost() => Ok(Action::await_change()),
        },
        None => reconcile::reconcile(obj, ctx).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_recorded_in_status_within_the_window_are_counted() {
        use crate::crd::{ChangeOrderStatus, EdasAppMembershipStatus};
        use crate::edas::Operation;
        let now = status::parse_rfc3339_ms("2026-12-01T12:01:00Z").unwrap();
        let st = |observed: &str, polled: Option<&str>| EdasAppMembershipStatus {
            last_observed_at: Some(observed.into()),
            change_order: polled.map(|p| ChangeOrderStatus {
                last_polled_at: Some(p.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let a = st("2026-12-01T12:00:30Z", Some("2026-12-01T12:00:59Z"));
        // Observed 61 s ago: taken as 60 s ago, still inside the 60.5 s window.
        let b = st("2026-12-01T11:59:59Z", None);
        let c = st("2026-12-01T11:59:58Z", Some("2026-12-01T11:50:00Z"));
        let calls = recorded_calls(&[&a, &b, &c], now);
        assert_eq!(
            calls,
            vec![
                (Operation::QueryApplicationStatus, 29_000),
                (Operation::GetChangeOrderInfo, 0),
                (Operation::QueryApplicationStatus, 60_000),
            ]
        );
    }

    fn clients() -> EdasClients {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "edas-operator",
            "run",
            "--edas-endpoint",
            "http://127.0.0.1:9",
            "--sts-endpoint",
            "http://127.0.0.1:9",
        ])
        .unwrap();
        let crate::cli::Command::Run(args) = cli.command else {
            panic!("not run");
        };
        EdasClients::new(&args.edas, Arc::new(Metrics::new()), BTreeSet::new()).unwrap()
    }

    #[test]
    fn a_refreshed_key_replaces_the_client_that_held_the_old_one() {
        let c = clients();
        let first = Credentials::new("STS.one", "s1", Some("t1".into()))
            .with_expiration(std::time::SystemTime::now() + Duration::from_secs(60));
        let a = c.client("operator", &first, "cn-hangzhou").unwrap();
        let again = c.client("operator", &first, "cn-hangzhou").unwrap();
        assert!(Arc::ptr_eq(&a, &again), "same key: the cached client");
        // Refreshed: another key id altogether, same identity.
        let second = Credentials::new("STS.two", "s2", Some("t2".into()));
        let b = c.client("operator", &second, "cn-hangzhou").unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(c.cached(), 1, "the old client (and its secret) is gone");
        // A rotated Secret: same key id, new secret.
        let s1 = Credentials::new("AK", "old", None);
        let s2 = Credentials::new("AK", "new", None);
        let x = c.client("secret:ns/a", &s1, "cn-hangzhou").unwrap();
        let y = c.client("secret:ns/a", &s2, "cn-hangzhou").unwrap();
        assert!(!Arc::ptr_eq(&x, &y));
        // Other identities and regions have their own clients.
        c.client("secret:ns/a", &s2, "cn-beijing").unwrap();
        c.client("secret:ns/b", &s2, "cn-hangzhou").unwrap();
        assert_eq!(c.cached(), 4);
    }

    #[test]
    fn resync_spreads_out_as_the_fleet_grows() {
        let five_min = Duration::from_secs(300);
        // 100 resources at 90/min and half the budget: 100*60/45 s = 133 s < 5 min.
        assert_eq!(fleet_resync(five_min, 100, Some(90.0), 0.5), five_min);
        // 1000 resources: 1333 s.
        let d = fleet_resync(five_min, 1000, Some(90.0), 0.5);
        assert!((1333..=1334).contains(&d.as_secs()), "{d:?}");
        assert_eq!(fleet_resync(five_min, 1000, None, 0.5), five_min);
    }
}
