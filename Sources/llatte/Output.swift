import ArgumentParser
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// Writes a line to stderr (logs and errors; stdout is kept for results).
func logLine(_ s: String) {
    let bytes = Array((s + "\n").utf8)
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
