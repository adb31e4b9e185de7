//! What is left running on the machine after a test.

/// Processes whose command line contains `needle` and that are not zombies.
pub fn live_processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let Ok(cmdline) = std::fs::read(p.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(p.join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
        if cmdline.contains(needle) && !zombie && !cmdline.contains("updraft") {
            found.push(format!("{}: {cmdline}", p.display()));
        }
    }
    found
}
