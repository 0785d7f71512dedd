import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body(0..<count)` across the machine's cores and returns when all are done.
///
/// Only for work whose results go to per-index slots: callers merge the slots in index order, so the
/// output never depends on which thread ran what.
func parallelFor(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    if count <= 1 {
        if count == 1 { body(0) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: count, execute: body)
}

/// Online CPUs (at least 1), for sizing work waves; never affects output.
func onlineCPUs() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
