//! The controller (filled in by the controller work).
use crate::cli::{PlanArgs, RunArgs};

pub async fn run(_args: RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("run: not built yet")
}

pub async fn plan_command(_args: PlanArgs) -> anyhow::Result<()> {
    anyhow::bail!("plan: not built yet")
}
