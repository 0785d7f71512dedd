import Foundation
import Synchronization
import Tensor
import Testing

/// The machine-peak measurement's threads really run at once: a peak taken with the iterations one
/// after another on one core reads as a fraction of the machine (seen: exactly half on 2 cores).
@Suite struct KernelBenchTests {
    final class Seen: @unchecked Sendable {
        let arrived = Atomic<Int>(0)
        let lock = NSLock()
        var threads: [pthread_t] = []
        var sawAll: [Bool] = []
    }

    @Test(arguments: [2, 3])
    func concurrentlyRunsEveryBodyOnItsOwnThreadAtTheSameTime(threads: Int) {
        let seen = Seen()
        _ = KernelBench.concurrently(threads: threads) { _ in
            seen.arrived.add(1, ordering: .sequentiallyConsistent)
            // Each body waits (up to 10 s) until every body has started: run one after another,
            // the first would wait alone and time out.
            let deadline = Date().addingTimeInterval(10)
            while seen.arrived.load(ordering: .sequentiallyConsistent) < threads && Date() < deadline {}
            let all = seen.arrived.load(ordering: .sequentiallyConsistent) == threads
            seen.lock.lock()
            seen.threads.append(pthread_self())
            seen.sawAll.append(all)
            seen.lock.unlock()
        }
        #expect(seen.sawAll == Array(repeating: true, count: threads))
        #expect(Set(seen.threads).count == threads)
    }

    @Test func concurrentlyTimesFromTheCommonStartToTheLastFinish() {
        let seconds = KernelBench.concurrently(threads: 2) { i in
            if i == 1 { Thread.sleep(forTimeInterval: 0.2) }
        }
        #expect(seconds >= 0.2)
    }
}
