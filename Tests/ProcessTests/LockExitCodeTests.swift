#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Store
import Support
import Testing
import TestSupport

/// Exit code 4 ("locked", harmless under cron when it does not repeat) only when another live
/// process holds the lock; a lock file that cannot be opened is exit code 1, naming the path and
/// the OS error, so a misconfigured job pages instead of looking locked forever.
@Suite struct LockExitCodeTests {
    static let holder = LockHolder(pipeline: "held-by-test")

    /// `llatte ingest` of the world's logs into `history` (created if missing).
    static func ingest(_ w: PipelineWorld, _ history: String, _ tag: String) throws -> ChildProcess {
        try ChildProcess(ChildProcess.llatte, ["ingest", "--history-store", history, "--conversion-types", "purchase", "--min-ts", "0",
                                               "--max-ts", "4000000000", "--lock-timeout", "0.2", "--quiet", w.dir.file("logs")],
                         outputPrefix: w.dir.file(tag))
    }

    @Test func aRunWhosePipelineLockIsHeldExits4NamingTheHolder() throws {
        let w = try PipelineWorld()
        try Files.makeDirectories(w.dir.file("out"))
        let lock = try FileLock.acquire(path: w.dir.file("out/embeddings.db.backfill.lock"), holder: LockExitCodeTests.holder, timeout: 0)
        let run = try w.run("backfill")
        #expect(run.wait() == 4, "\(run.stderr)")
        #expect(run.stderr.contains("held by pipeline=held-by-test pid=\(getpid())"), "\(run.stderr)")
        withExtendedLifetime(lock) {}
    }

    @Test func aRunWhoseLockFileCannotBeOpenedExits1WithThePathAndTheOSError() throws {
        let w = try PipelineWorld()
        // A directory where the lock file belongs: open(2) fails with EISDIR, whoever runs it.
        let pipelineLock = w.dir.file("out/embeddings.db.backfill.lock")
        try Files.makeDirectories(pipelineLock)
        let run = try w.run("backfill", tag: "pipeline-lock")
        #expect(run.wait() == 1, "\(run.stderr)")
        #expect(run.stderr.contains(pipelineLock) && run.stderr.contains("is a directory, where a file is expected"), "\(run.stderr)")
        // The ingest stage's lock on the history store, the same way.
        rmdir(pipelineLock)
        let historyLock = w.dir.file("out/history.db.lock")
        try Files.makeDirectories(historyLock)
        let again = try w.run("backfill", tag: "history-lock")
        #expect(again.wait() == 1, "\(again.stderr)")
        #expect(again.stderr.contains(historyLock) && again.stderr.contains("is a directory, where a file is expected"), "\(again.stderr)")
    }

    @Test func aRunThatCannotCreateItsLockInTheStoreDirectoryExits1() throws {
        try #require(getuid() == 0 && Files.exists("/usr/bin/setpriv"), "needs root and setpriv to run llatte as nobody")
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        // The cron user (nobody here) can read everything but not write the stores' directory. The
        // checkpoint is copied beside the stores: the build directory may sit in a checkout that
        // only its owner can read.
        chmod(w.dir.path, 0o755)
        try w.makeCheckpoint(version: "golden-small", at: "ck")
        w.writePipeline("refresh", out: "out", name: "refresh-nobody", checkpoint: w.dir.file("ck"))
        let run = try ChildProcess("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", ChildProcess.llatte,
                                                        "run", w.dir.file("refresh-nobody.yaml"), "--quiet"], outputPrefix: w.dir.file("nobody"))
        #expect(run.wait() == 1, "\(run.stderr)")
        #expect(run.stderr.contains(w.dir.file("out/embeddings.db.refresh.lock")) && run.stderr.contains("Permission denied"), "\(run.stderr)")
    }

    @Test func ingestExits4WhenTheStoreIsLockedAnd1WhenItsLockFileCannotBeOpened() throws {
        let w = try PipelineWorld()
        let history = w.dir.file("h/history.db")
        try Files.makeDirectories(w.dir.file("h"))
        var lock: FileLock? = try FileLock.acquire(path: history + ".lock", holder: LockExitCodeTests.holder, timeout: 0)
        let locked = try LockExitCodeTests.ingest(w, history, "locked")
        #expect(locked.wait() == 4, "\(locked.stderr)")
        #expect(locked.stderr.contains("held by pipeline=held-by-test pid=\(getpid())"), "\(locked.stderr)")
        lock = nil
        _ = lock
        unlink(history + ".lock")
        try Files.makeDirectories(history + ".lock")
        let broken = try LockExitCodeTests.ingest(w, history, "broken")
        #expect(broken.wait() == 1, "\(broken.stderr)")
        #expect(broken.stderr.contains(history + ".lock") && broken.stderr.contains("is a directory, where a file is expected"), "\(broken.stderr)")
        // forget takes the same lock.
        let forget = try ChildProcess(ChildProcess.llatte, ["forget", "1", "--history-store", history], outputPrefix: w.dir.file("forget"))
        #expect(forget.wait() == 1, "\(forget.stderr)")
        #expect(forget.stderr.contains(history + ".lock") && forget.stderr.contains("is a directory, where a file is expected"), "\(forget.stderr)")
    }
}
