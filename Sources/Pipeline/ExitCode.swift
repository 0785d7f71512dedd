/// Process exit codes, documented in README.md: cron and schedulers tell outcomes apart by them.
public enum ExitStatus: Int32, Sendable {
    /// Everything asked for was done.
    case success = 0
    /// Nothing useful was done: bad configuration, unreadable store, internal error.
    case failure = 1
    /// `get` / `export`: some users asked for have no row (the others were printed).
    case notFound = 2
    /// Done, but some files or users were rejected (see the log and quarantine).
    case partialFailure = 3
    /// Another live process holds the store's lock (the holder is named on stderr); a lock file
    /// that cannot be opened or locked is `failure`.
    case locked = 4
    /// Stopped by SIGINT/SIGTERM after a consistent point; rerun to resume.
    case interrupted = 5
    /// Command-line usage error.
    case usage = 64
}
