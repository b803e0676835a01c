#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit. A desktop session starts programs with a soft limit of
/// 1,024 and a much higher hard one; a server raises the soft limit to the hard one at start
/// (nginx's `worker_rlimit_nofile`, systemd's services), so that a busy moment (many
/// communities' downloads, imports and API clients at once) does not end in EMFILE.
enum FileLimit {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns (before, after), or nil when
    /// the limit cannot be read. A failure to raise it leaves the limit as it was.
    @discardableResult
    static func raiseToHardLimit() -> (before: UInt64, after: UInt64)? {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return (before, before) }
        return (before, UInt64(limit.rlim_cur))
    }

    /// Glibc imports `RLIMIT_NOFILE` as an enum case of `__rlimit_resource`.
    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t {
        __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    }
}
