//! The `updraft` binary: see `updraft --help`.

fn main() -> std::process::ExitCode {
    return_freed_memory();
    updraft::cli::main()
}

/// Arrow buffers of a few hundred KiB to tens of MiB come and go by the thousand while a
/// task streams a table. glibc raises its mmap threshold as soon as such buffers are
/// freed and from then on keeps freed ones in the heap, so the process holds on to what
/// it no longer uses: the silver task's peak RSS on 1,000,000 tweets was 894 MiB, and
/// 535 MiB with a fixed threshold (bench/README.md). A fixed threshold returns every
/// buffer above it to the system when freed.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
