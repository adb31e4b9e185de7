//! Identifiers as Airflow allows them (DAG and task ids: letters, digits, `_`, `-`, `.`;
//! run ids also `~`, `:`, `+`), at most 250 characters. They name folders of the log
//! tree, so an id can never hold a path separator or be `.`/`..`.

use std::path::{Component, Path};

/// The longest id accepted (Airflow's limit).
pub const MAX_ID_LEN: usize = 250;

/// What an identifier names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Dag,
    Task,
    Run,
    Queue,
}

impl IdKind {
    fn name(self) -> &'static str {
        match self {
            IdKind::Dag => "dag_id",
            IdKind::Task => "task id",
            IdKind::Run => "run id",
            IdKind::Queue => "queue",
        }
    }

    fn allows(self, c: char) -> bool {
        c.is_ascii_alphanumeric()
            || matches!(c, '_' | '-' | '.')
            || (self == IdKind::Run && matches!(c, '~' | ':' | '+'))
    }

    fn allowed_text(self) -> &'static str {
        match self {
            IdKind::Run => "letters, digits, `_`, `-`, `.`, `~`, `:` or `+`",
            _ => "letters, digits, `_`, `-` or `.`",
        }
    }
}

/// Checks an identifier; the error says what is wrong with it.
pub fn check_id(kind: IdKind, id: &str) -> Result<(), String> {
    let name = kind.name();
    if id.is_empty() {
        return Err(format!("the {name} is empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "the {name} is {} characters long; at most {MAX_ID_LEN} are allowed",
            id.len()
        ));
    }
    if let Some(bad) = id.chars().find(|c| !kind.allows(*c)) {
        return Err(format!(
            "{name} `{}` holds {bad:?}; use only {}",
            id.escape_debug(),
            kind.allowed_text()
        ));
    }
    if id.chars().all(|c| c == '.') {
        return Err(format!("{name} `{id}` is only dots"));
    }
    Ok(())
}

/// Whether `path` (built under `root` from ids) stays inside `root`: relative to it, no
/// component climbs out or starts over at the file system's root.
pub fn stays_inside(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root).is_ok_and(|rest| {
        rest.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_airflow_and_cannot_name_other_folders() {
        assert!(check_id(IdKind::Run, "manual__2026-01-01T00:00:00+00:00").is_ok());
        assert!(check_id(IdKind::Dag, "lakehouse.bronze_to-gold").is_ok());
        for (kind, bad) in [
            (IdKind::Run, "../../escaped"),
            (IdKind::Run, ".."),
            (IdKind::Run, "a/b"),
            (IdKind::Run, ""),
            (IdKind::Dag, "a:b"),
            (IdKind::Task, "ta sk"),
            (IdKind::Run, "x\0y"),
        ] {
            assert!(check_id(kind, bad).is_err(), "{bad:?} was accepted");
        }
        assert!(check_id(IdKind::Dag, &"d".repeat(251)).is_err());
        let root = Path::new("/home/u/.updraft/logs");
        assert!(stays_inside(root, &root.join("dag_id=a/run_id=b")));
        assert!(!stays_inside(root, &root.join("dag_id=a/../../x")));
        assert!(!stays_inside(root, Path::new("/etc/passwd")));
    }
}
