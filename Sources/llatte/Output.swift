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

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC), for people reading logs and listings.
func utcTimestamp(_ seconds: Int64) -> String {
    var t = time_t(seconds)
    var parts = tm()
    guard gmtime_r(&t, &parts) != nil else { return String(seconds) }
    func two(_ x: Int32) -> String { x < 10 ? "0\(x)" : String(x) }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
