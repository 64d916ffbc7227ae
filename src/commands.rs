//! The read-only subcommands that print what EDAS reports (`edas status`) and what the
//! controller would do (`plan`). The controller itself lives in `crate::controller`.

use crate::cli::{EdasCommand, EdasCommandArgs, PlanArgs};
use crate::crd::EdasAppMembership;
use crate::edas::EdasApi;

/// `edas-operator plan -f FILE`: read-only, prints the plan the controller would compute.
pub async fn plan_command(args: PlanArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", args.file.display()))?;
    let obj: EdasAppMembership = serde_yaml_ng::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an EdasAppMembership manifest: {e}",
            args.file.display()
        )
    })?;
    obj.spec
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let client = args.edas.env_client(&obj.spec.region_id).await?;
    let app = client.query_application_status(&obj.spec.app_id).await?;
    let mut plan = crate::controller::plan::compute(&obj.spec, &app, None);
    if plan.needs_ecus.is_some() {
        let ecus = client.list_scale_out_ecus(&obj.spec.app_id, None).await?;
        let free = crate::controller::plan::FreeEcus { ecus, fresh: true };
        plan = crate::controller::plan::compute(&obj.spec, &app, Some(&free));
    }
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(());
    }
    println!(
        "app {} ({}) in {}: {} ECC(s) observed, {} declared",
        app.app_id,
        app.name,
        obj.spec.region_id,
        app.eccs.len(),
        obj.spec.members.len()
    );
    for e in &app.eccs {
        let mark = if plan.declared.contains(&e.ecc_id) {
            "keep  "
        } else {
            "remove"
        };
        println!(
            "  {mark} {} ecu={} instance={} ip={} state={} task={}",
            e.ecc_id, e.ecu_id, e.instance_id, e.ip, e.app_state, e.task_state
        );
    }
    for a in &plan.to_add {
        println!("  add    {} on free ECU {}", a.member, a.ecu_id);
    }
    for m in &plan.missing {
        let why = if obj.spec.scale_out.enabled {
            "named by eccId, which exists only once the instance runs: cannot be added"
        } else {
            "spec.scaleOut.enabled is false: not added"
        };
        println!("  missing {m} (declared, not running the app; {why})");
    }
    for why in &plan.ambiguous {
        println!("  ambiguous: {why}");
    }
    for why in &plan.unaddable {
        println!("  cannot add: {why}");
    }
    if !plan.unaddable.is_empty() || !plan.ambiguous.is_empty() {
        println!("plan: nothing is added or removed until the spec changes");
        return Ok(());
    }
    if plan.to_add.is_empty() {
        println!("plan: nothing to add");
    } else {
        println!(
            "plan: add {} host(s) with ScaleOut in change orders of at most {}, first: {}",
            plan.to_add.len(),
            obj.spec.scale_out.max_per_change_order,
            plan.add_batch.join(",")
        );
    }
    if plan.to_remove.is_empty() {
        println!("plan: nothing to remove");
    } else if !plan.to_add.is_empty() {
        println!(
            "plan: then remove {} ECC(s) ({}), once every added host runs the app healthy",
            plan.to_remove.len(),
            plan.to_remove.join(",")
        );
    } else {
        println!(
            "plan: remove {} ECC(s) in change orders of at most {}{}",
            plan.to_remove.len(),
            obj.spec.scale_in.max_per_change_order,
            if obj.spec.scale_in.force {
                " (ForceStatus=true)"
            } else {
                ""
            }
        );
        match &plan.blocked {
            Some(b) => println!("blocked: {b}"),
            None => println!("next change order: {}", plan.next_batch.join(",")),
        }
        if obj.spec.management_policy == crate::crd::ManagementPolicy::Observe {
            println!("managementPolicy Observe: the operator would only report this plan");
        }
    }
    Ok(())
}

/// `edas-operator edas status`: read-only, prints what EDAS reports for an application.
pub async fn edas_command(args: EdasCommandArgs) -> anyhow::Result<()> {
    match args.command {
        EdasCommand::Status(a) => {
            let client = a.edas.env_client(&a.region).await?;
            let status = client.query_application_status(&a.app_id).await?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "appId": status.app_id,
                        "name": status.name,
                        "eccs": status.eccs,
                    }))?
                );
            } else {
                println!("app {} ({})", status.app_id, status.name);
                println!(
                    "{:<38} {:<38} {:<22} {:<16} {:<24} TASK",
                    "ECC", "ECU", "INSTANCE", "IP", "STATE"
                );
                for e in &status.eccs {
                    println!(
                        "{:<38} {:<38} {:<22} {:<16} {:<24} {}",
                        e.ecc_id,
                        e.ecu_id,
                        e.instance_id,
                        e.ip,
                        e.app_state.to_string(),
                        e.task_state
                    );
                }
            }
            Ok(())
        }
    }
}
