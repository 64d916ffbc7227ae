//! The change-order machine: orders are created with their batches and tasks, then advance on
//! the simulator's clock. Nothing runs in the background: every entry point first calls
//! [`Inner::tick`] up to "now", which replays what happened since, in time order (order steps
//! and deferred back-end work), so the model is exact whenever it is looked at.

use super::document::BatchType;
use super::model::{App, Batch, CoKind, Ecc, NewOrder, Order, Task, TaskSeed, new_id};
use super::state::Inner;
use crate::edas::{AppState, CoStatus, TaskState};

impl Inner {
    /// Create an order (status 0) that starts half a step from now. Returns its id.
    pub(crate) fn create_order(&mut self, new: NewOrder<'_>, now: i64) -> String {
        let NewOrder {
            app_id,
            kind,
            source,
            group_id,
            seeds,
            description,
        } = new;
        let targets: Vec<String> = seeds
            .iter()
            .map(|s| match kind {
                CoKind::ScaleOut => s.ecu_id.clone(),
                _ => s.ecc_id.clone().unwrap_or_default(),
            })
            .collect();
        let n = seeds.len();
        let batches = split_into_batches(seeds, self.settings.batch_count as usize);
        let fail_planned = n > 0 && self.faults.fail_next_change_orders > 0;
        if fail_planned {
            self.faults.fail_next_change_orders -= 1;
        }
        let unhealthy = kind == CoKind::ScaleOut && self.faults.unhealthy_scale_out(app_id);
        let step_ms = (self.settings.seconds_per_instance * 1000.0).round() as i64;
        let id = new_id();
        self.next_seq += 1;
        self.orders.push(Order {
            seq: self.next_seq,
            id: id.clone(),
            app_id: app_id.to_string(),
            group_id,
            kind,
            source: source.to_string(),
            created_at: now,
            finished_at: None,
            status: CoStatus::Ready,
            batch_type: self.settings.batch_type,
            batches,
            targets,
            description,
            fail_planned,
            unhealthy,
            stalled: self.faults.stall_change_orders,
            next_at: Some(now + step_ms / 2),
            cur_batch: 0,
            cur_task: 0,
            step_ms,
            wait_ms: (self.settings.batch_wait_seconds * 1000.0).round() as i64,
        });
        self.changed(app_id, now);
        id
    }

    /// Advance everything to `now`: deferred back-end work (`lateApply`, `asyncForce`) is
    /// carried out at its own due time, after every order step due by then.
    pub(crate) fn tick(&mut self, now: i64) {
        while let Some(due) = self.lag.next_due().filter(|d| *d <= now) {
            self.advance_orders(due);
            if let Some((at, work)) = self.lag.pop_due(due) {
                self.run_deferred(work, at);
            }
        }
        self.advance_orders(now);
    }

    fn advance_orders(&mut self, until: i64) {
        for i in 0..self.orders.len() {
            while let Some(at) = self.orders[i].next_at.filter(|at| *at <= until) {
                let Inner { orders, apps, .. } = self;
                let o = &mut orders[i];
                o.next_at = None;
                step(o, apps, at);
                if self.faults.stale_reads.is_some() {
                    let app_id = self.orders[i].app_id.clone();
                    self.changed(&app_id, at);
                }
            }
        }
    }
}

/// `n` seeds over `batch_count` batches (at most one per seed), the first ones one larger.
fn split_into_batches(seeds: Vec<TaskSeed>, batch_count: usize) -> Vec<Batch> {
    let n = seeds.len();
    let k = batch_count.clamp(1, n.max(1));
    let (base, extra) = (n / k, n % k);
    let mut seeds = seeds.into_iter();
    (0..k)
        .map(|b| {
            let size = base + usize::from(b < extra);
            Batch {
                pipeline_id: new_id(),
                stage_id: new_id(),
                status: CoStatus::Ready,
                start: None,
                update: None,
                tasks: seeds
                    .by_ref()
                    .take(size)
                    .map(|s| Task {
                        id: new_id(),
                        ecc_id: s.ecc_id,
                        ecu_id: s.ecu_id,
                        ip: s.ip,
                        status: CoStatus::Ready,
                        message: String::new(),
                        error: None,
                        removed: None,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn app_of<'a>(apps: &'a mut [App], app_id: &str) -> Option<&'a mut App> {
    apps.iter_mut().find(|a| a.app_id == app_id)
}

fn step(o: &mut Order, apps: &mut [App], at: i64) {
    match o.status {
        CoStatus::Ready => {
            o.status = CoStatus::Running;
            start_batch(o, apps, 0, at);
        }
        CoStatus::WaitingNextBatch => {
            o.status = CoStatus::Running;
            let b = o.cur_batch;
            start_batch(o, apps, b, at);
        }
        CoStatus::Running => finish_task(o, apps, at),
        _ => {}
    }
}

pub(crate) fn start_batch(o: &mut Order, apps: &mut [App], b: usize, at: i64) {
    o.cur_batch = b;
    o.cur_task = 0;
    let Some(batch) = o.batches.get_mut(b) else {
        return;
    };
    batch.status = CoStatus::Running;
    batch.start = Some(at);
    batch.update = Some(at);
    if batch.tasks.is_empty() {
        finish_batch(o, apps, at);
    } else {
        begin_task(o, apps, at);
    }
}

fn begin_task(o: &mut Order, apps: &mut [App], at: i64) {
    let kind = o.kind;
    let Some(task) = o
        .batches
        .get_mut(o.cur_batch)
        .and_then(|b| b.tasks.get_mut(o.cur_task))
    else {
        return;
    };
    task.status = CoStatus::Running;
    task.message = "running".into();
    if kind != CoKind::ScaleOut
        && let Some(ecc) = &task.ecc_id
        && let Some(app) = app_of(apps, &o.app_id)
    {
        app.set_task_state(ecc, TaskState::Processing, at);
    }
    o.next_at = if o.stalled {
        None
    } else {
        Some(at + o.step_ms)
    };
}

fn finish_task(o: &mut Order, apps: &mut [App], at: i64) {
    let (b, t) = (o.cur_batch, o.cur_task);
    let last_batch = b + 1 == o.batches.len();
    let Some(batch) = o.batches.get_mut(b) else {
        return;
    };
    let last_task = t + 1 == batch.tasks.len();
    batch.update = Some(at);
    if o.fail_planned && last_batch && last_task {
        fail_task(o, apps, at);
        return;
    }
    let (kind, group, unhealthy) = (o.kind, o.group_id.clone(), o.unhealthy);
    if let Some(task) = o.batches[b].tasks.get_mut(t) {
        task.status = CoStatus::Succeeded;
        task.message = "success".into();
        if let Some(app) = app_of(apps, &o.app_id) {
            let new_state = if unhealthy {
                AppState::Stopped
            } else {
                AppState::Running
            };
            carry_out(kind, &group, new_state, task, app, at);
        }
    }
    if last_task {
        finish_batch(o, apps, at);
    } else {
        o.cur_task += 1;
        begin_task(o, apps, at);
    }
}

/// What a finished task does to the app. A scale-out's new ECC comes up in `new_state`
/// (RUNNING, or STOPPED under `unhealthyScaleOut`) with its task SUCCESS.
fn carry_out(
    kind: CoKind,
    group_id: &str,
    new_state: AppState,
    task: &mut Task,
    app: &mut App,
    at: i64,
) {
    match kind {
        CoKind::ScaleIn => {
            if let Some(pos) = task
                .ecc_id
                .as_deref()
                .and_then(|id| app.eccs.iter().position(|e| e.ecc_id == id))
            {
                task.removed = Some(app.eccs.remove(pos));
            }
        }
        CoKind::ScaleOut => {
            let id = new_id();
            app.eccs.push(Ecc {
                ecc_id: id.clone(),
                ecu_id: task.ecu_id.clone(),
                group_id: group_id.to_string(),
                app_state: new_state,
                task_state: TaskState::Success,
                created_at: at,
                updated_at: at,
            });
            task.ecc_id = Some(id);
        }
        kind => {
            if let Some(e) = task.ecc_id.as_deref().and_then(|id| app.ecc_mut(id)) {
                e.task_state = TaskState::Success;
                e.app_state = if kind == CoKind::Stop {
                    AppState::Stopped
                } else {
                    AppState::Running
                };
                e.updated_at = at;
            }
        }
    }
}

/// `failNextChangeOrders`: the current (last) task fails, and with it the batch and the order.
fn fail_task(o: &mut Order, apps: &mut [App], at: i64) {
    let (kind, b, t) = (o.kind, o.cur_batch, o.cur_task);
    let batch = &mut o.batches[b];
    let Some(task) = batch.tasks.get_mut(t) else {
        return;
    };
    task.status = CoStatus::Failed;
    task.message = "failed".into();
    task.error = Some((
        "INJECTED_FAILURE".into(),
        format!(
            "{} {} ({}) failed: the simulator was told to fail this change order \
             (faults.failNextChangeOrders)",
            kind.verb(),
            task.ip,
            task.ecc_id.as_deref().unwrap_or(&task.ecu_id)
        ),
    ));
    if kind != CoKind::ScaleOut
        && let Some(ecc) = &task.ecc_id
        && let Some(app) = app_of(apps, &o.app_id)
    {
        app.set_task_state(ecc, TaskState::Failed, at);
    }
    batch.status = CoStatus::Failed;
    o.status = CoStatus::Failed;
    o.finished_at = Some(at);
    o.next_at = None;
}

fn finish_batch(o: &mut Order, apps: &mut [App], at: i64) {
    let b = o.cur_batch;
    if let Some(batch) = o.batches.get_mut(b) {
        batch.status = CoStatus::Succeeded;
        batch.update = Some(at);
    }
    if b + 1 >= o.batches.len() {
        o.status = CoStatus::Succeeded;
        o.finished_at = Some(at);
        o.next_at = None;
        return;
    }
    o.cur_batch = b + 1;
    match o.batch_type {
        BatchType::Manual => {
            o.status = CoStatus::WaitingManualConfirm;
            o.batches[b + 1].status = CoStatus::WaitingManualConfirm;
            o.next_at = None;
        }
        BatchType::Automatic if o.wait_ms > 0 => {
            o.status = CoStatus::WaitingNextBatch;
            o.batches[b + 1].status = CoStatus::WaitingNextBatch;
            o.next_at = Some(at + o.wait_ms);
        }
        BatchType::Automatic => start_batch(o, apps, b + 1, at),
    }
}

/// End an order with `status` (AbortChangeOrder, or a human in the console). The task
/// running is terminated (6) and its ECC left in place (TaskState back to 2); tasks not yet
/// started stay at 0 and their ECCs stay. With `rollback`, what finished tasks did is undone:
/// ECCs a scale-in removed come back (unless their ECU runs another ECC of the app by now),
/// ECCs a scale-out created go. An order that had ended keeps its first `finishedAt`.
pub(crate) fn end(o: &mut Order, apps: &mut [App], status: CoStatus, rollback: bool, at: i64) {
    let kind = o.kind;
    let mut app = app_of(apps, &o.app_id);
    for batch in o.batches.iter_mut() {
        if batch.status != CoStatus::Succeeded {
            batch.status = CoStatus::Aborted;
            batch.update = Some(at);
        }
        for t in batch.tasks.iter_mut() {
            if t.status == CoStatus::Running {
                t.status = CoStatus::Aborted;
                t.message = "aborted".into();
                if let (Some(app), Some(ecc), true) =
                    (app.as_deref_mut(), &t.ecc_id, kind != CoKind::ScaleOut)
                {
                    app.set_task_state(ecc, TaskState::Success, at);
                }
            }
            if rollback
                && t.status == CoStatus::Succeeded
                && let Some(app) = app.as_deref_mut()
            {
                roll_back(kind, t, app, at);
            }
        }
    }
    o.status = status;
    o.finished_at = o.finished_at.or(Some(at));
    o.next_at = None;
}

fn roll_back(kind: CoKind, task: &mut Task, app: &mut App, at: i64) {
    match kind {
        CoKind::ScaleIn => {
            if let Some(mut ecc) = task.removed.take() {
                if app.eccs.iter().any(|e| e.ecu_id == ecc.ecu_id) {
                    task.removed = Some(ecc);
                    return;
                }
                ecc.task_state = TaskState::Success;
                ecc.updated_at = at;
                app.eccs.push(ecc);
            }
        }
        CoKind::ScaleOut => {
            if let Some(id) = &task.ecc_id {
                app.eccs.retain(|e| &e.ecc_id != id);
            }
        }
        _ => return,
    }
    task.message = "rolled back".into();
}
