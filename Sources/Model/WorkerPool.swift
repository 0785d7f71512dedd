import Dispatch
import Foundation

/// A fixed set of worker threads, created once and reused by every call. Encoding on the same
/// threads each time keeps OpenBLAS's per-thread buffers (and the allocator's per-thread arenas)
/// to one set, so memory does not drift with how many pool threads the system happened to use.
final class WorkerPool: @unchecked Sendable {
    let count: Int
    private let wake: [DispatchSemaphore]
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var job: (@Sendable (Int) -> Void)?
    private var stopping = false
    /// The workers' threads, so `shutdown` can refuse to run on one of them.
    private var threads: [pthread_t] = []

    init(count: Int) {
        self.count = count
        wake = (0..<count).map { _ in DispatchSemaphore(value: 0) }
        for slot in 0..<count {
            let t = Thread { [unowned self] in self.loop(slot) }
            t.name = "llatte-encode-\(slot)"
            t.start()
        }
    }

    private func loop(_ slot: Int) {
        lock.lock(); threads.append(pthread_self()); lock.unlock()
        while true {
            wake[slot].wait()
            lock.lock()
            var body = job
            let stop = stopping
            lock.unlock()
            if stop { finished.signal(); return }
            body?(slot)
            // Let go of the job before reporting done: were this worker to hold the last reference
            // to what the job captured after `run` returned, that owner's deinit would run here,
            // and an encoder's deinit shuts this very pool down and would wait for itself forever.
            body = nil
            finished.signal()
        }
    }

    /// Runs `body(slot)` on every worker and returns when all are done. One call at a time.
    func run(_ body: @escaping @Sendable (Int) -> Void) {
        lock.lock(); job = body; lock.unlock()
        for w in wake { w.signal() }
        for _ in 0..<count { finished.wait() }
        lock.lock(); job = nil; lock.unlock()
    }

    /// Ends the threads (they hold a reference to the pool until then). On one of the pool's own
    /// threads it does not wait: that thread ends once its job returns, the others on their own.
    func shutdown() {
        lock.lock()
        let onWorker = threads.contains { pthread_equal($0, pthread_self()) != 0 }
        stopping = true
        lock.unlock()
        for w in wake { w.signal() }
        if onWorker { return }
        for _ in 0..<count { finished.wait() }
    }
}
