/// A UTC calendar date, for naming day partitions (`events/2026-10-01.jsonl.lz4`).
struct CivilDate: Equatable, CustomStringConvertible {
    var year: Int
    var month: Int
    var day: Int

    /// The UTC date of unix second `ts` (Howard Hinnant's days-to-civil algorithm: exact integer
    /// arithmetic, no time-zone database, no Foundation).
    init(unixSeconds ts: Int64) {
        let days = ts >= 0 ? ts / 86_400 : (ts - 86_399) / 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = Int(doy - (153 * mp + 2) / 5 + 1)
        month = Int(mp < 10 ? mp + 3 : mp - 9)
        year = Int(yoe + era * 400 + (month <= 2 ? 1 : 0))
    }

    /// `YYYY-MM-DD`.
    var description: String {
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }
}
