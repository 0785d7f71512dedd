import Foundation
@testable import Model
import Synchronization
import Testing

/// Counts, across threads, the releases of job captures that happened on a pool thread.
private final class ReleaseLog: Sendable {
    let onPoolThread = Atomic<Int>(0)
    let released = Atomic<Int>(0)
}

/// Captured by a job; its deinit notes whether the last reference went away on a pool thread.
private final class Capture: @unchecked Sendable {
    let log: ReleaseLog
    let caller: pthread_t
    init(log: ReleaseLog) { self.log = log; caller = pthread_self() }
    func touch() {}
    deinit {
        if pthread_equal(pthread_self(), caller) == 0 { log.onPoolThread.add(1, ordering: .relaxed) }
        log.released.add(1, ordering: .relaxed)
    }
}

@Suite struct WorkerPoolTests {
    /// A job's captures must be released before `run` returns, on the calling thread's side: an
    /// encoder made for one call (the checkpoint self-test) was otherwise sometimes freed by a
    /// worker still holding the job, and its deinit's `shutdown` then waited for itself forever,
    /// leaving a stuck thread (and its allocator arena) for the rest of the run.
    @Test func runReleasesTheJobBeforeReturning() {
        let pool = WorkerPool(count: 2)
        defer { pool.shutdown() }
        let log = ReleaseLog()
        let rounds = 3000
        var late = 0
        for round in 0..<rounds {
            let c = Capture(log: log)
            pool.run { _ in c.touch() }
            _ = consume c
            if log.released.load(ordering: .relaxed) != round + 1 { late += 1 }
        }
        #expect(late == 0)
        #expect(log.released.load(ordering: .relaxed) == rounds)
        #expect(log.onPoolThread.load(ordering: .relaxed) == 0)
    }

    /// `shutdown` on one of the pool's own threads returns instead of waiting for itself (which
    /// would hang this `run` too: with one worker, no other thread can report it done).
    @Test func shutdownFromAWorkerReturns() {
        let pool = WorkerPool(count: 1)
        let ran = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        // On a thread of its own, so a hang fails this test instead of stopping the run.
        Thread {
            pool.run { _ in
                pool.shutdown()
                ran.add(1, ordering: .relaxed)
            }
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(ran.load(ordering: .relaxed) == 1)
    }

    /// `shutdown` ends every worker and returns; `run` uses each slot once per call.
    @Test func everySlotRunsOncePerCall() {
        let pool = WorkerPool(count: 3)
        let hits = Atomic<Int>(0), slots = Atomic<Int>(0)
        for _ in 0..<50 {
            pool.run { slot in
                hits.add(1, ordering: .relaxed)
                slots.bitwiseOr(1 << slot, ordering: .relaxed)
            }
        }
        pool.shutdown()
        #expect(hits.load(ordering: .relaxed) == 150)
        #expect(slots.load(ordering: .relaxed) == 0b111)
    }
}
