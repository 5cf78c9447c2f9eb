//! Process resources: the open-file limit raised as far as allowed, and
//! freed memory handed back to the system after a crowd of connections.

/// Raises the soft open-file limit to the hard one and returns the limit now in force
/// (`None` when it cannot be read).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own; no other memory is touched.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct we pass.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit = raised;
            }
        }
        // RLIM_INFINITY and the like: far more than any cap needs.
        #[allow(clippy::useless_conversion)] // rlim_t is not u64 on every unix
        Some(
            u64::try_from(limit.rlim_cur)
                .unwrap_or(u64::MAX)
                .min(1 << 20),
        )
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Hands memory freed by closed connections back to the system. glibc keeps
/// freed pages in its arenas (an attack's 2000 connections would otherwise
/// leave tens of megabytes resident for good); `malloc_trim` releases them.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's own state.
    unsafe {
        libc::malloc_trim(0);
    }
}
