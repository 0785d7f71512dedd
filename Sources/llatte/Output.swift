import ArgumentParser
import Pipeline
import Support
#if canImport(Glibc)
import Glibc
#endif

/// Whether stderr is a terminal: log lines carry a timestamp only when it is not (cron, files).
private let stderrIsTerminal = isatty(2) != 0

/// Writes a line to stderr (logs and errors; stdout is kept for results), prefixed with an
/// ISO-8601 UTC timestamp when stderr is not a terminal.
func logLine(_ s: String) {
    let bytes = Array(((stderrIsTerminal ? "" : iso8601UTCNow() + " ") + s + "\n").utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(2, $0.baseAddress! + off, $0.count - off) }
        if n <= 0 { return }
        off += n
    }
}

/// Ends the command with one of llatte's documented exit codes.
func exitWith(_ status: ExitStatus, _ message: String? = nil) -> ExitCode {
    if let message { logLine(message) }
    return ExitCode(status.rawValue)
}
