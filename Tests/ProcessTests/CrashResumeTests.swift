#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// kill -9 at injected points and at random moments, then a rerun: the same rows as an
/// uninterrupted run (crash safety, docs/pipelines.md), run as real `llatte` processes.
@Suite(.serialized) struct CrashResumeTests {
    static func reference() throws -> [EmbeddingRow] {
        let w = try PipelineWorld()
        let p = try w.run("backfill")
        #expect(p.wait() == 0, "\(p.stderr)")
        return try w.rows()
    }

    @Test func killAtEachInjectedPointThenResumeGivesTheUninterruptedRows() throws {
        let expected = try CrashResumeTests.reference()
        #expect(expected.count == 40)
        for (point, batch) in [(KillPoint.midTransaction, 3), (.afterCommit, 5), (.walCheckpoint, 8)] {
            let w = try PipelineWorld()
            let markers = w.dir.file("markers")
            let killed = try w.run("backfill", env: ["LLATTE_TEST_KILL_AT": "\(point.rawValue):\(batch)", "LLATTE_TEST_MARKERS": markers])
            #expect(killed.wait() == 128 + SIGKILL, "\(point): \(killed.stderr)")
            #expect(Files.exists(markers + "/\(point.rawValue).reached"), "kill point \(point) was not reached")
            let partial = try w.rows()
            #expect(partial.count < expected.count)
            let rerun = try w.run("backfill")
            #expect(rerun.wait() == 0, "\(rerun.stderr)")
            #expect(rerun.stdout.contains("(resumed)"), "\(point): \(rerun.stdout)")
            #expect(sameRows(try w.rows(), expected), "\(point): rows differ after resume")
            #expect(try w.store().version("golden-small")?.status == .active)
        }
    }

    @Test func killAtRandomMomentsThenResumeGivesTheUninterruptedRows() throws {
        let expected = try CrashResumeTests.reference()
        var rng = SystemRandomNumberGenerator()
        for attempt in 0..<3 {
            let w = try PipelineWorld()
            let p = try w.run("backfill")
            usleep(UInt32.random(in: 200_000...2_500_000, using: &rng))
            p.kill()
            _ = p.wait()
            var tries = 0
            while true {
                let r = try w.run("backfill")
                let code = r.wait()
                if code == 0 { break }
                tries += 1
                #expect(tries < 3, "attempt \(attempt): rerun exit \(code): \(r.stderr)")
                if tries >= 3 { return }
            }
            #expect(sameRows(try w.rows(), expected), "attempt \(attempt): rows differ after a random kill and resume")
        }
    }

    @Test func sigtermStopsAfterTheBatchWithTheResumableExitCode() throws {
        let expected = try CrashResumeTests.reference()
        let w = try PipelineWorld(windowUsers: 1)
        let hold = w.dir.write("hold", text: "")
        let markers = w.dir.file("markers")
        let p = try w.run("backfill", env: ["LLATTE_TEST_PAUSE_AT": "\(KillPoint.afterCommit.rawValue):1", "LLATTE_TEST_HOLD": hold, "LLATTE_TEST_MARKERS": markers])
        // Signal while the run waits after its second batch, so it is certain to stop mid-encode.
        while !Files.exists(markers + "/\(KillPoint.afterCommit.rawValue).paused") && !p.hasExited() { usleep(20_000) }
        p.kill(SIGTERM)
        usleep(200_000)
        try FileManager.default.removeItem(atPath: hold)
        #expect(p.wait() == 5, "\(p.stderr)")
        #expect(p.stdout.contains("status=interrupted"))
        let r = try w.run("backfill")
        #expect(r.wait() == 0 && r.stdout.contains("(resumed)"))
        #expect(sameRows(try w.rows(), expected))
    }
}

/// Locks: one run of a pipeline per store; a killed holder's lock is released by the kernel.
@Suite(.serialized) struct PipelineLockTests {
    @Test func twentySimultaneousStartsRunExactlyOnce() throws {
        let w = try PipelineWorld()
        let hold = w.dir.write("hold", text: "")
        let runs = try (0..<20).map { i in try w.run("backfill", env: ["LLATTE_TEST_HOLD": hold], tag: "start\(i)") }
        // Everyone but the winner gives up at once (lock_timeout 0); the winner waits at the hook.
        let deadline = Date().addingTimeInterval(240)
        while runs.filter({ $0.hasExited() }).count < 19 && Date() < deadline { usleep(50_000) }
        let exited = runs.filter { $0.hasExited() }
        #expect(exited.count == 19)
        #expect(exited.allSatisfy { $0.wait() == 4 })
        #expect(exited.allSatisfy { $0.stderr.contains("pipeline=backfill") })
        try FileManager.default.removeItem(atPath: hold)
        let winners = runs.filter { $0.wait() == 0 }
        #expect(winners.count == 1)
        #expect(try w.rows().count == 40)
    }

    @Test func aKilledHoldersLockIsReleased() throws {
        let w = try PipelineWorld()
        let hold = w.dir.write("hold", text: "")
        let holder = try w.run("backfill", env: ["LLATTE_TEST_HOLD": hold])
        while !(FileLock.readHolder(path: w.dir.file("out/embeddings.db.backfill.lock"))?.contains("pid=\(holder.pid)") ?? false) { usleep(20_000) }
        let refused = try w.run("backfill")
        #expect(refused.wait() == 4)
        holder.kill()
        _ = holder.wait()
        let next = try w.run("backfill")
        #expect(next.wait() == 0, "\(next.stderr)")
        #expect(try w.rows().count == 40)
    }
}
