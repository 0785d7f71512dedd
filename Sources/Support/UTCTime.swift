#if canImport(Glibc)
import Glibc
#endif

/// Unix seconds as ISO-8601 UTC, `YYYY-MM-DDTHH:MM:SSZ`: every time llatte prints for people.
public func iso8601UTC(_ seconds: Int64) -> String {
    var t = time_t(seconds)
    var parts = tm()
    guard gmtime_r(&t, &parts) != nil else { return String(seconds) }
    func two(_ x: Int32) -> String { x < 10 ? "0\(x)" : String(x) }
    let year = parts.tm_year + 1900
    return "\(year < 1000 ? String(repeating: "0", count: 4 - String(year).count) : "")\(year)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
        + "T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

/// Now as ISO-8601 UTC with milliseconds (`…T12:00:00.123Z`), for log lines.
public func iso8601UTCNow() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    let base = iso8601UTC(Int64(ts.tv_sec))
    let ms = Int(ts.tv_nsec / 1_000_000)
    return base.dropLast() + "." + (ms < 10 ? "00" : ms < 100 ? "0" : "") + String(ms) + "Z"
}

/// The version of this llatte, printed by `llatte --version` and recorded with every run.
public let llatteVersion = "0.14.0"
