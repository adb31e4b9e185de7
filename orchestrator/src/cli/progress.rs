//! Live progress of a run: a progress bar on a terminal, timestamped lines otherwise.

use crate::engine::RunEvent;
use crate::store::TaskState;
use tokio::sync::mpsc::UnboundedReceiver;

/// Consumes engine events until the run ends.
pub async fn report(mut events: UnboundedReceiver<RunEvent>, label: String) {
    let terminal = crate::terminal::is_terminal();
    let bar = crate::terminal::progress_bar(
        0,
        "{spinner} {prefix} [{bar:30}] {pos}/{len} tasks {elapsed} {wide_msg}",
    );
    bar.set_prefix(label.clone());
    let say = |line: String| crate::terminal::progress_line(&bar, &label, &line);
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::RunStarted { total } => {
                bar.set_length(total as u64);
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                say(format!("started, {total} tasks"));
            }
            RunEvent::TaskStarted {
                task_id,
                try_number,
            } => {
                if !terminal {
                    say(format!("{task_id} started (try {try_number})"));
                }
                bar.set_message(format!("running {task_id}"));
            }
            RunEvent::TaskFinished {
                task_id,
                try_number,
                state,
                seconds,
                error,
            } => {
                let detail = error.map(|e| format!(": {e}")).unwrap_or_default();
                say(format!(
                    "{task_id} {state} (try {try_number}, {seconds:.2}s){detail}"
                ));
                if !matches!(state, TaskState::UpForRetry | TaskState::UpForReschedule) {
                    bar.inc(1);
                }
            }
            RunEvent::TaskDecided { task_id, state } => {
                say(format!("{task_id} {state}"));
                bar.inc(1);
            }
            RunEvent::TaskExpanded { task_id, count } => {
                say(format!("{task_id} mapped over {count} items"));
                // The task counted once; its instances count each.
                bar.inc_length((count as u64).saturating_sub(1));
            }
            RunEvent::RunFinished { state } => {
                bar.finish_and_clear();
                say(format!("run {}", state.as_str()));
                break;
            }
        }
    }
    bar.finish_and_clear();
}
