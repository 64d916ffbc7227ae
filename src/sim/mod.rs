//! The EDAS simulator: serves the EDAS 2017-08-01 ROA API (the operations in
//! [`crate::edas::Operation`]) over HTTP with the real gateway's signatures, errors, rate limits
//! and injected faults, plus unsigned `/_sim/*` admin endpoints (README, "The EDAS
//! simulator"). [`InProcessEdas`] serves the same operations, faults and call log without HTTP.
//!
//! Modules by concern: `clock` (wall or manual time), `document` (the state document),
//! `model` (apps, ECCs, orders), `orders` (the change-order machine), `ops` (one method per
//! EDAS operation), `faults` (what can go wrong), `lag` (late applies, async removals, stale
//! reads), `gateway` (keys, nonces, rate windows, call log), `auth` (signatures), `api` (the
//! pipeline every call goes through), `admin` (`/_sim/*` and console actions), `state` (the
//! shared handle), `server` (HTTP), `inprocess` (the `EdasApi` without HTTP).
//!
//! In-process use (tests):
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use edas_operator::sim::{self, SimState};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let sim = sim::start(listener, SimState::demo()).await?;
//! let url = sim.base_url(); // http://127.0.0.1:PORT
//! let snapshot = sim.state().snapshot(); // what GET /_sim/state shows
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
mod api;
pub mod auth;
pub mod clock;
pub mod document;
pub mod error;
pub mod faults;
pub mod gateway;
pub mod inprocess;
mod lag;
pub mod model;
mod ops;
mod orders;
pub mod server;
pub mod state;
pub mod sts;
#[cfg(test)]
mod tests;

pub use admin::{
    AdminError, AppSnapshot, ChangeOrderSnapshot, ConsoleOrderRequest, EccSnapshot,
    EndOrderRequest, StateSnapshot,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use document::{
    AccessKeyDoc, AppDoc, BatchType, ChangeOrderSettings, DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET, DEMO_APP_ID, DEMO_OIDC_PROVIDER_ARN, DEMO_ROLE_ARN, DEMO_WORKER_ID,
    DocumentError, EccDoc, EcuDoc, GroupDoc, StateDocument, parse_document,
};
pub use faults::{
    AsyncForce, DuplicateRows, Faults, FaultsPatch, LateApply, LateApplyMode, PartialEcuList,
    PartialEcuListMode, StaleReads, UnhealthyScaleOut,
};
pub use gateway::{CallRecord, LateResult, duplicate_scale_in_attempts, scale_in_attempts_per_ecc};
pub use inprocess::InProcessEdas;
pub use state::SimState;
pub use sts::{IssuedCredentials, MintTokenRequest, RoleDoc, StsDoc};

use crate::cli::SimulateArgs;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

/// `edas-operator simulate`: serve until SIGINT/SIGTERM.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let state = match &args.state {
        Some(path) => SimState::load(path)?,
        None => SimState::demo(),
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let handle = start(listener, state).await?;
    match &args.state {
        Some(path) => tracing::info!(
            address = %handle.addr(),
            state = %path.display(),
            "EDAS simulator listening"
        ),
        None => tracing::info!(
            address = %handle.addr(),
            access_key_id = DEMO_ACCESS_KEY_ID,
            app_id = DEMO_APP_ID,
            "EDAS simulator listening with the built-in demo fleet (its secret is in the README)"
        ),
    }
    crate::shutdown_signal().await;
    tracing::info!("EDAS simulator stopping");
    handle.shutdown().await;
    Ok(())
}

/// A running simulator. Dropping it stops it too (without waiting).
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: SimState,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (no trailing slash): the endpoint to give a client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The live state, shared with the server (snapshot, calls, faults, reset, console orders).
    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Stop accepting, close every connection, and wait for the server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serve the simulator on `listener` (bind `127.0.0.1:0` for tests) until the handle is shut
/// down or dropped.
pub async fn start(listener: TcpListener, state: SimState) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let app = server::router(state.clone());
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        conns.spawn(serve_connection(stream, app.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "simulator accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.shutdown().await;
    });
    Ok(SimHandle {
        addr,
        state,
        stop,
        task: Some(task),
    })
}

/// The service asked for this connection to be closed without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// HTTP/1.1 on one connection. A response marked [`server::DropConnection`] becomes a service
/// error, on which hyper closes the connection without writing anything; one marked
/// [`server::HangConnection`] does the same after holding the connection (the client gives up
/// first, or the simulator shuts down). No timer is set on purpose: hyper's header-read
/// timeout also runs while a keep-alive connection is idle, and closing idle connections would
/// race clients reusing pooled ones.
async fn serve_connection(stream: tokio::net::TcpStream, app: axum::Router) {
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        async move {
            let resp = match app.oneshot(req.map(axum::body::Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if let Some(server::HangConnection(hold)) = resp.extensions().get().copied() {
                tokio::time::sleep(hold).await;
                return Err(Dropped);
            }
            if resp.extensions().get::<server::DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
