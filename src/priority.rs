//! OS priority of background threads: bulk work (import jobs' embedding and index inserts) runs
//! at a higher nice value than interactive work, so that on shared cores requests win.

/// Sets the calling thread's nice value (on Linux, per thread). Raising it needs no privilege.
pub fn set_thread_nice(nice: i32, what: &str) {
    if nice == 0 {
        return;
    }
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::warn!("cannot lower the priority of the {what}: {e}");
    }
}
