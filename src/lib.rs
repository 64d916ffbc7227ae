//! edas-operator: keeps an Alibaba Cloud EDAS application's ECC membership at what an
//! `EdasAppMembership` resource declares.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod controller;
pub mod crd;
pub mod edas;
pub mod metrics;
pub mod server;
pub mod sim;
pub mod telemetry;

/// Lock a mutex, recovering the data if a panicking thread poisoned it: every critical section
/// in this crate leaves its data complete, so a poisoned lock is still usable.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// rustls needs one process-wide crypto provider; kube and reqwest share ring.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Resolves on SIGTERM or Ctrl-C: one shutdown signal for the controller and the simulator.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
