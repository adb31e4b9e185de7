//! The `updraft` binary: see `updraft --help`.

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os().skip(1);
    // A supervisor of one attempt's command: nothing else of Updraft starts.
    if args
        .next()
        .is_some_and(|a| a == updraft::engine::supervisor::SUPERVISE_ARG)
    {
        return updraft::engine::supervisor::supervise(args);
    }
    return_freed_memory();
    updraft::cli::main()
}

/// Arrow buffers of a few hundred KiB to tens of MiB come and go by the thousand while a
/// task streams a table, allocated on one thread and freed on another. With glibc's
/// defaults (an arena per thread, an mmap threshold that rises after the first large
/// frees) the process keeps what it freed: the silver task on 1,000,000 tweets peaked at
/// 850–900 MiB. Buffers above 4 MiB mapped on their own (and so returned when freed) and
/// two arenas for the two cores bring it to about 580 MiB; a lower threshold saved a
/// little more memory but made `land` half as fast, zeroing fresh pages for every
/// buffer (bench/README.md).
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    }
}
