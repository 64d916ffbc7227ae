//! The EDAS simulator (filled in by the simulator work).
use crate::cli::SimulateArgs;

pub async fn run(_args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("simulate: not built yet")
}
