import Dispatch
import Pipeline
import Support
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM raise a stop flag instead of ending the process, so that a run stops at a
/// consistent point (a committed batch, or a file boundary while ingesting) and exits 5.
final class StopSignals {
    let flag = StopFlag()
    private let sources: [DispatchSourceSignal]

    /// Installs the handlers; `command` prefixes the line logged when a signal arrives.
    init(command: String) {
        let flag = self.flag
        sources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                logLine("\(command): \(sig == SIGTERM ? "SIGTERM" : "SIGINT"): stopping at the next batch or file boundary (rerun to resume)")
                flag.raise()
            }
            src.resume()
            return src
        }
    }

    deinit { sources.forEach { $0.cancel() } }
}
