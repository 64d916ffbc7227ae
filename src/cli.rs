//! Command line: one binary, subcommands. Every flag has an environment fallback; secrets are
//! never flags (they come from the environment or a Kubernetes Secret).

use crate::edas::budget::{BudgetConfig, CallBudget};
use crate::edas::provider::{ChainSettings, CredentialsProvider, chain_from_env};
use crate::edas::signer::SignatureAlgorithm;
use crate::edas::sts::StsSettings;
use crate::edas::{ClientConfig, EdasClient};
use crate::telemetry::LogFormat;
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "edas-operator",
    version,
    about = "Keeps Alibaba Cloud EDAS application membership (ECCs) at what an EdasAppMembership resource declares",
    long_about = "Keeps Alibaba Cloud EDAS application membership (ECCs) at what an EdasAppMembership \
resource declares: diffs the declaration against QueryApplicationStatus, removes extra ECCs with \
ScaleInApplication one change order at a time, and follows each order into the resource's status."
)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG wins when set.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
// Parsed once at start-up: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the controller against the current Kubernetes cluster.
    Run(RunArgs),
    /// Print the EdasAppMembership CustomResourceDefinition as YAML.
    Crd,
    /// Serve a local EDAS simulator (the 2017-08-01 ROA API) for demos and tests.
    Simulate(SimulateArgs),
    /// Read-only: print what the operator would do for a membership resource, against live EDAS.
    Plan(PlanArgs),
    /// EDAS debugging aids.
    Edas(EdasCommandArgs),
}

/// How to reach EDAS.
#[derive(Args, Debug, Clone)]
pub struct EdasArgs {
    /// Endpoint override (VPC endpoint, proxy, simulator), e.g. https://edas-vpc.cn-hangzhou.aliyuncs.com.
    /// Default: the public endpoint of the resource's region.
    #[arg(long, env = "EDAS_ENDPOINT")]
    pub edas_endpoint: Option<String>,
    /// Accept an http:// endpoint on a non-loopback host (never needed for real EDAS).
    #[arg(long, env = "EDAS_ALLOW_INSECURE_ENDPOINT", default_value_t = false)]
    pub allow_insecure_endpoint: bool,
    /// Signature algorithm: hmac-sha1 (ROA V2) or acs3-hmac-sha256.
    #[arg(long, env = "EDAS_SIGNATURE_ALGORITHM", default_value = "hmac-sha1")]
    pub signature_algorithm: SignatureAlgorithm,
    /// Total timeout of one EDAS call.
    #[arg(long, env = "EDAS_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub edas_timeout: Duration,
    /// Connect timeout of one EDAS call.
    #[arg(long, env = "EDAS_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub edas_connect_timeout: Duration,
    /// Per-minute call limits, overriding the documented ones: `Op=N,Op=N` (0 = unlimited).
    #[arg(long, env = "EDAS_RATE_LIMITS", default_value = "")]
    pub rate_limits: String,
    /// Share of each per-minute limit the operator allows itself (0 < share <= 1).
    #[arg(long, env = "EDAS_RATE_LIMIT_SHARE", default_value_t = 0.9)]
    pub rate_limit_share: f64,
    /// STS endpoint for RRSA and assumed roles: a host (sts-vpc.cn-hangzhou.aliyuncs.com) or a
    /// URL (http:// only on loopback). Default: sts.aliyuncs.com, or the regional one below.
    #[arg(long, env = "ALIBABA_CLOUD_STS_ENDPOINT")]
    pub sts_endpoint: Option<String>,
    /// STS region: sts.<region>.aliyuncs.com (sts-vpc.<region>... with --sts-vpc).
    #[arg(long, env = "ALIBABA_CLOUD_STS_REGION")]
    pub sts_region: Option<String>,
    /// Use the VPC STS endpoint of --sts-region.
    #[arg(
        long,
        env = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED",
        default_value_t = false
    )]
    pub sts_vpc: bool,
    /// The ECS instance metadata service (the last source of the operator's own credentials).
    #[arg(long, env = "IMDS_ENDPOINT", default_value = crate::edas::provider::DEFAULT_IMDS)]
    pub imds_endpoint: String,
}

impl EdasArgs {
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let endpoint = match &self.edas_endpoint {
            Some(e) if !e.trim().is_empty() => Some(
                crate::edas::endpoint::parse_override(e.trim(), self.allow_insecure_endpoint)
                    .map_err(anyhow::Error::msg)?,
            ),
            _ => None,
        };
        Ok(ClientConfig {
            endpoint,
            algorithm: self.signature_algorithm,
            connect_timeout: self.edas_connect_timeout,
            timeout: self.edas_timeout,
            ..ClientConfig::default()
        })
    }

    pub fn budget(&self) -> anyhow::Result<Arc<CallBudget>> {
        if !(self.rate_limit_share > 0.0 && self.rate_limit_share <= 1.0) {
            anyhow::bail!(
                "--rate-limit-share {} must be in (0, 1]",
                self.rate_limit_share
            );
        }
        let mut cfg = BudgetConfig::default()
            .with_overrides(&self.rate_limits)
            .map_err(anyhow::Error::msg)?;
        cfg.share = self.rate_limit_share;
        Ok(Arc::new(CallBudget::new(cfg)))
    }

    /// Where the credentials chain finds STS and the instance metadata service.
    pub fn chain_settings(&self) -> anyhow::Result<ChainSettings> {
        let sts = StsSettings {
            endpoint: self.sts_endpoint.clone(),
            region: self.sts_region.clone(),
            vpc: self.sts_vpc,
            allow_insecure: self.allow_insecure_endpoint,
        };
        sts.resolve().map_err(anyhow::Error::msg)?;
        let imds = url::Url::parse(self.imds_endpoint.trim())
            .map_err(|e| anyhow::anyhow!("--imds-endpoint {:?}: {e}", self.imds_endpoint))?;
        let is_imds = imds.host_str() == Some("100.100.100.200");
        if imds.scheme() != "http"
            || !(is_imds
                || crate::edas::endpoint::is_loopback(&imds)
                || self.allow_insecure_endpoint)
        {
            anyhow::bail!(
                "--imds-endpoint {:?}: expected http://100.100.100.200 (or an http:// loopback \
                 address for tests)",
                self.imds_endpoint
            );
        }
        Ok(ChainSettings { sts, imds })
    }

    /// The operator's own identity: the credentials chain over the environment.
    pub fn own_identity(
        &self,
        http: reqwest::Client,
    ) -> anyhow::Result<Option<CredentialsProvider>> {
        let settings = self.chain_settings()?;
        chain_from_env(&|k| std::env::var(k).ok(), &settings, http).map_err(anyhow::Error::msg)
    }

    /// A client with the operator's own credentials (the chain over the environment).
    pub async fn env_client(&self, region: &str) -> anyhow::Result<EdasClient> {
        let config = self.client_config()?;
        let http = crate::edas::client::http_client(&config).map_err(anyhow::Error::msg)?;
        let provider = self.own_identity(http.clone())?.context(
            "no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, \
             or the RRSA variables",
        )?;
        let creds = provider.credentials().await.map_err(anyhow::Error::msg)?;
        Ok(EdasClient::new(http, creds, region, config)
            .map_err(anyhow::Error::msg)?
            .with_budget(self.budget()?))
    }
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?} is not a duration: {e}"))
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub edas: EdasArgs,
    /// Path to a kubeconfig; default: KUBECONFIG, ~/.kube/config, then in-cluster.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespaces to watch (comma-separated); empty = all namespaces.
    #[arg(
        long,
        env = "WATCH_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub watch_namespaces: Vec<String>,
    /// Namespaces whose resources may use the operator's own credentials when they name no
    /// Secret (comma-separated). None by default: a namespace must not borrow the operator's
    /// cloud account by omission.
    #[arg(
        long,
        env = "DEFAULT_CREDENTIALS_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub default_credentials_namespaces: Vec<String>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Resources reconciled at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Periodic re-observation of converged resources, to notice drift made outside the operator.
    #[arg(long, env = "RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Wait after a failed change order before trying again; doubles per failure in a row,
    /// up to 20 times this.
    #[arg(long, env = "FAILURE_BACKOFF", default_value = "30s", value_parser = parse_duration)]
    pub failure_backoff: Duration,
    /// How long EDAS reads may lag its writes: an ECC that a finished order of ours removed is
    /// not sent again while it is still listed, until this has passed and the order was
    /// re-read. Also part of the quiet window after an unanswered ScaleIn
    /// (2 x --edas-timeout + this).
    #[arg(long, env = "READ_LAG_HOLDOFF", default_value = "60s", value_parser = parse_duration)]
    pub read_lag_holdoff: Duration,
    /// How long a forced ScaleIn (no change order) may take to show in EDAS's answers before
    /// the resource goes Stalled (forced removals are never re-sent automatically).
    #[arg(long, env = "FORCED_HOLDOFF", default_value = "2m", value_parser = parse_duration)]
    pub forced_holdoff: Duration,
    /// Take a coordination.k8s.io Lease before calling EDAS, so only one replica acts.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    /// Namespace of the leader-election Lease (default: POD_NAMESPACE or edas-system).
    #[arg(long, env = "LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "edas-operator-leader")]
    pub lease_name: String,
    /// Lease duration.
    #[arg(long, env = "LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// Identity of this replica in the Lease (default: POD_NAME or hostname-pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:8099")]
    pub listen: SocketAddr,
    /// State document (YAML or JSON); default: a small built-in demo fleet.
    #[arg(long, env = "SIM_STATE")]
    pub state: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub edas: EdasArgs,
    /// An EdasAppMembership manifest (YAML or JSON). Credentials come from the environment.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Output format.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

#[derive(Args, Debug)]
pub struct EdasCommandArgs {
    #[command(subcommand)]
    pub command: EdasCommand,
}

#[derive(Subcommand, Debug)]
pub enum EdasCommand {
    /// Print an application's ECCs (QueryApplicationStatus). Credentials from the environment.
    Status(EdasStatusArgs),
}

#[derive(Args, Debug)]
pub struct EdasStatusArgs {
    #[command(flatten)]
    pub edas: EdasArgs,
    #[arg(long)]
    pub app_id: String,
    #[arg(long)]
    pub region: String,
    /// Print JSON instead of a table.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
