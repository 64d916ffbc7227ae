//! The simulator checked by real clients: the official EDAS Python SDKs
//! (`alibabacloud-edas20170801` with ACS3 and with `signature_algorithm='v2'`, and
//! `aliyun-python-sdk-edas`) run the scenarios in `tests/sdk/*.py` against a simulator started
//! here on 127.0.0.1:0.
//!
//! The interpreter comes from `EDAS_SDK_PYTHON` (`hack/python-sdk.sh` makes one and prints its
//! path). The test is ignored by plain `cargo test` (listed as ignored, never as passed);
//! `hack/test.sh` sets `EDAS_SDK_PYTHON` and runs it with `--include-ignored`; asked for
//! without the interpreter, it fails.

use edas_operator::sim::{self, SimState};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the official SDK venv: hack/test.sh runs it"]
async fn official_python_sdks_pass_the_simulator_scenarios() {
    let python = std::env::var_os("EDAS_SDK_PYTHON")
        .filter(|p| !p.is_empty())
        .expect(
            "EDAS_SDK_PYTHON is not set: run `export EDAS_SDK_PYTHON=$(hack/python-sdk.sh)` first",
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = sim::start(listener, SimState::demo()).await.unwrap();
    let sdk_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk");
    let started = Instant::now();
    let run = tokio::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "."])
        .current_dir(sdk_dir)
        .env("EDAS_SIM_URL", handle.base_url())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the Python SDK scenarios did not finish within 10 minutes")
        .unwrap_or_else(|e| panic!("cannot run {python:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    println!(
        "python SDK scenarios took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "the Python SDK scenarios failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(" passed"),
        "pytest ran no scenario:\n{stdout}"
    );
    // The scenarios reset the state (and the call log) as they go; the last one made calls.
    assert!(
        !handle.state().calls().is_empty(),
        "the simulator saw no API call"
    );
    handle.shutdown().await;
}
