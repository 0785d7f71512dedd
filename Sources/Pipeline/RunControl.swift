#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Store
import Support
import Synchronization

/// Raised by SIGINT/SIGTERM (or a test): the run stops after the current batch, resumable.
public final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    public init() {}
    public func raise() { raised.store(true, ordering: .relaxed) }
    public var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// Points where a crash test may kill the run with SIGKILL.
public enum KillPoint: String, Sendable, CaseIterable {
    /// After a batch's rows and progress row are written, before COMMIT.
    case midTransaction = "mid-transaction"
    /// Right after a batch's COMMIT.
    case afterCommit = "after-commit"
    /// While the WAL is being checkpointed into the database file.
    case walCheckpoint = "wal-checkpoint"
    /// After an ingest batch is appended to the history store, inside its file's transaction
    /// (batches counted from 0 over the whole ingest).
    case ingestBatch = "ingest-batch"
    /// After a merge window's rows and progress are written, before its COMMIT (windows counted
    /// from 0 over the whole `llatte merge`).
    case mergeWindow = "merge-window"
}

/// Test hooks of a pipeline run, off unless set (the CLI reads them from `LLATTE_TEST_*`
/// environment variables, documented in docs/pipelines.md). They let crash and lock tests stop a
/// run at an exact point and prove that the point was reached.
public struct RunHooks: Sendable {
    /// SIGKILL this process on reaching this point at this batch (or any batch when nil).
    public var killAt: (point: KillPoint, batch: Int?)?
    /// Where `<point>.reached` markers are written just before the kill.
    public var markerDirectory: String?
    /// After taking the pipeline's lock, wait while this file exists.
    public var holdWhileExists: String?
    /// Pause at this point and batch, writing `<point>.paused` and waiting while `holdWhileExists` exists.
    public var pauseAt: (point: KillPoint, batch: Int?)?

    public init() {}

    /// `LLATTE_TEST_KILL_AT=<point>[:<batch>]`, `LLATTE_TEST_PAUSE_AT=<point>[:<batch>]`,
    /// `LLATTE_TEST_MARKERS=<dir>`, `LLATTE_TEST_HOLD=<file>`.
    public static func fromEnvironment() -> RunHooks {
        var h = RunHooks()
        func env(_ k: String) -> String? { getenv(k).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        if let k = env("LLATTE_TEST_KILL_AT") {
            let parts = k.split(separator: ":")
            if let p = KillPoint(rawValue: String(parts[0])) { h.killAt = (p, parts.count > 1 ? Int(parts[1]) : nil) }
        }
        if let k = env("LLATTE_TEST_PAUSE_AT") {
            let parts = k.split(separator: ":")
            if let p = KillPoint(rawValue: String(parts[0])) { h.pauseAt = (p, parts.count > 1 ? Int(parts[1]) : nil) }
        }
        h.markerDirectory = env("LLATTE_TEST_MARKERS")
        h.holdWhileExists = env("LLATTE_TEST_HOLD")
        return h
    }

    func wants(_ p: KillPoint, batch: Int) -> Bool {
        guard let k = killAt, k.point == p else { return false }
        return k.batch == nil || k.batch == batch
    }

    func mark(_ p: KillPoint) {
        guard let dir = markerDirectory else { return }
        try? Files.makeDirectories(dir)
        try? Files.writeAtomically(dir + "/\(p.rawValue).reached", Array("\(getpid())\n".utf8))
    }

    /// Called at each kill point: pauses or kills there when the hooks ask for it.
    public func reached(_ p: KillPoint, batch: Int) {
        if let pause = pauseAt, pause.point == p, pause.batch == nil || pause.batch == batch, let f = holdWhileExists, let dir = markerDirectory {
            try? Files.makeDirectories(dir)
            try? Files.writeAtomically(dir + "/\(p.rawValue).paused", Array("\(getpid())\n".utf8))
            while Files.exists(f) { usleep(10_000) }
        }
        guard wants(p, batch: batch) else { return }
        mark(p)
        kill(getpid(), SIGKILL)
    }

    /// A passive WAL checkpoint (keeps the WAL small on long runs); a crash test may kill during it.
    func checkpointWAL(_ db: Database, batch: Int) throws(StoreError) {
        if wants(.walCheckpoint, batch: batch) {
            mark(.walCheckpoint)
            // Killed from another thread while this one is inside the checkpoint.
            DispatchQueue.global().async { usleep(200); kill(getpid(), SIGKILL) }
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            usleep(1_000_000)
        }
        try db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    }

    /// Waits while the hold file exists (the lock test's winner waits for every loser to try),
    /// unless the hold file is for a pause point.
    func holdAfterLock() {
        guard pauseAt == nil, let f = holdWhileExists else { return }
        while Files.exists(f) { usleep(10_000) }
    }
}
