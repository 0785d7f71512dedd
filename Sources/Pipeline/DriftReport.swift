import Store
import Support

/// The drift between two model versions (`VersionComparison`) as a person reads it: a text table
/// for the terminal, JSON for scripts, and a self-contained HTML page (DriftReport+HTML.swift).
public enum DriftReport {
    /// How far a comparison's embeddings moved, by the median aligned cosine over all interests.
    public enum Drift: String, Sendable {
        /// Every aligned cosine and norm ratio is exactly 1.
        case identical
        /// Median ≥ 0.999.
        case small
        /// Median ≥ 0.99.
        case moderate
        /// Median < 0.99.
        case large
        /// No user has rows in both versions.
        case unknown
    }

    /// The drift class and the one line that says it, e.g. "median aligned cosine 0.9993 — small drift".
    public static func verdict(_ c: VersionComparison) -> (drift: Drift, line: String) {
        guard c.coverage.both > 0 else { return (.unknown, "no user has rows in both versions — nothing to compare") }
        let a = c.all.aligned, r = c.all.normRatio, b = c.all.bestMatch
        if a.min == 1 && (r.count == 0 || (r.min == 1 && r.max == 1)) {
            return (.identical, "every aligned cosine and norm ratio is exactly 1 — identical")
        }
        let drift: Drift = a.p50 >= 0.999 ? .small : a.p50 >= 0.99 ? .moderate : .large
        var line = "median aligned cosine \(cosine(a.p50)) — \(drift.rawValue) drift"
        if drift == .large && b.p50 >= 0.99 && b.p50 - a.p50 > 0.1 {
            line += "; interests look permuted (median best-match cosine \(cosine(b.p50)))"
        }
        if r.count > 0 && abs(r.p50 - 1) > 0.01 { line += "; norms changed (median ratio \(fixed(r.p50, 4)))" }
        return (drift, line)
    }

    // MARK: - Text

    /// The terminal table: versions, coverage, verdict, one row per interest and "all", top movers.
    public static func text(_ c: VersionComparison) -> String {
        var out: [String] = []
        out.append("embedding store \(c.storePath), \(c.interests) interests × \(c.interestDim) dimensions")
        for (role, v, rows) in [("V1", c.v1, c.coverage.both + c.coverage.onlyV1), ("V2", c.v2, c.coverage.both + c.coverage.onlyV2)] {
            out.append("  \(role) \(v.version)  \(v.status.rawValue)  \(rows) users  identity \(v.identity)")
        }
        out.append("users: \(c.coverage.both) in both, \(c.coverage.onlyV1) only in \(c.v1.version), \(c.coverage.onlyV2) only in \(c.v2.version)")
        out.append("verdict: \(verdict(c).line)")
        out.append("")
        let header = ["interest", "values", "aligned p1", "p5", "p50", "p95", "p99", "best-match p50", "norm ratio p50"]
        var rows: [[String]] = []
        for (name, m) in c.perInterest.enumerated().map({ (String($0.offset), $0.element) }) + [("all", c.all)] {
            let a = m.aligned
            rows.append([name, String(a.count), cosine(a.p1), cosine(a.p5), cosine(a.p50), cosine(a.p95), cosine(a.p99),
                         cosine(m.bestMatch.p50), ratio(m.normRatio.p50)])
        }
        let u = c.userMeanAligned
        rows.append(["user mean", String(u.count), cosine(u.p1), cosine(u.p5), cosine(u.p50), cosine(u.p95), cosine(u.p99), "", ""])
        out += table([header] + rows)
        if c.topMovers.isEmpty && c.coverage.both > 0 {
            out.append("")
            out.append("no user moved: every aligned cosine is exactly 1")
        } else if !c.topMovers.isEmpty {
            out.append("")
            out.append("top \(c.topMovers.count) movers (lowest mean aligned cosine; per interest: aligned/best-match):")
            out += table([["user_id", "mean aligned"] + (0..<c.interests).map { "interest \($0)" }]
                         + c.topMovers.map { m in [String(m.userID), cosine(m.meanAligned)] + (0..<c.interests).map { "\(cosine(m.aligned[$0]))/\(cosine(m.bestMatch[$0]))" } })
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// Rows of cells as columns two spaces apart: the first left-aligned, the others right-aligned.
    static func table(_ rows: [[String]]) -> [String] {
        let widths = rows.reduce(into: [Int]()) { w, row in
            for (i, cell) in row.enumerated() { if i < w.count { w[i] = max(w[i], cell.count) } else { w.append(cell.count) } }
        }
        return rows.map { row in
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
    }

    // MARK: - JSON

    /// JSON with snake_case keys; user ids as integers, NaN statistics (no values) as null.
    public static func json(_ c: VersionComparison) -> String {
        var w = JSONWriter()
        w.raw("{")
        w.key("store", first: true); w.string(c.storePath)
        for (name, v) in [("v1", c.v1), ("v2", c.v2)] {
            w.key(name); w.raw("{")
            w.key("version", first: true); w.string(v.version)
            w.key("identity"); w.string(v.identity)
            w.key("status"); w.string(v.status.rawValue)
            w.key("recorded_coverage"); w.raw(String(v.coverage))
            w.raw("}")
        }
        w.key("interests"); w.raw(String(c.interests))
        w.key("interest_dim"); w.raw(String(c.interestDim))
        w.key("coverage"); w.raw("{")
        w.key("both", first: true); w.raw(String(c.coverage.both))
        w.key("only_v1"); w.raw(String(c.coverage.onlyV1))
        w.key("only_v2"); w.raw(String(c.coverage.onlyV2))
        w.raw("}")
        let v = verdict(c)
        w.key("drift"); w.string(v.drift.rawValue)
        w.key("verdict"); w.string(v.line)
        w.key("all"); metrics(&w, c.all)
        w.key("per_interest"); w.raw("[")
        for (k, m) in c.perInterest.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{"); w.key("interest", first: true); w.raw(String(k))
            metricsBody(&w, m); w.raw("}")
        }
        w.raw("]")
        w.key("user_mean_aligned_cosine"); summary(&w, c.userMeanAligned)
        w.key("top_movers"); w.raw("[")
        for (i, m) in c.topMovers.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{")
            w.key("user_id", first: true); w.raw(String(m.userID))
            w.key("mean_aligned_cosine"); number(&w, m.meanAligned)
            w.key("aligned_cosine"); numbers(&w, m.aligned)
            w.key("best_match_cosine"); numbers(&w, m.bestMatch)
            w.raw("}")
        }
        w.raw("]}")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    private static func metrics(_ w: inout JSONWriter, _ m: VersionComparison.Metrics) {
        w.raw("{"); metricsBody(&w, m, first: true); w.raw("}")
    }

    private static func metricsBody(_ w: inout JSONWriter, _ m: VersionComparison.Metrics, first: Bool = false) {
        w.key("aligned_cosine", first: first); summary(&w, m.aligned)
        w.key("best_match_cosine"); summary(&w, m.bestMatch)
        w.key("norm_ratio"); summary(&w, m.normRatio)
    }

    private static func summary(_ w: inout JSONWriter, _ s: VersionComparison.Summary) {
        w.raw("{")
        w.key("count", first: true); w.raw(String(s.count))
        for (name, x) in [("min", s.min), ("max", s.max), ("mean", s.mean), ("p1", s.p1), ("p5", s.p5), ("p50", s.p50), ("p95", s.p95), ("p99", s.p99)] {
            w.key(name); number(&w, x)
        }
        w.key("histogram"); w.raw("{")
        w.key("edges", first: true); numbers(&w, s.histogram.edges)
        w.key("counts"); w.raw("[" + s.histogram.counts.map(String.init).joined(separator: ",") + "]")
        w.key("below"); w.raw(String(s.histogram.below))
        w.key("above"); w.raw(String(s.histogram.above))
        w.key("log_scale"); w.raw(s.histogram.logScale ? "true" : "false")
        w.raw("}}")
    }

    private static func number(_ w: inout JSONWriter, _ x: Double) { if x.isNaN { w.raw("null") } else { w.number(x) } }

    private static func numbers(_ w: inout JSONWriter, _ xs: [Double]) {
        w.raw("[")
        for (i, x) in xs.enumerated() { if i > 0 { w.raw(",") }; number(&w, x) }
        w.raw("]")
    }

    // MARK: - Numbers

    /// A cosine with 4 decimals, or as many more as it takes not to show 1.0000 for a value below 1;
    /// "–" for NaN.
    static func cosine(_ x: Double) -> String {
        guard !x.isNaN else { return "–" }
        var digits = 4
        while x < 1 && fixed(x, digits) == fixed(1, digits) && digits < 12 { digits += 1 }
        return fixed(x, digits)
    }

    /// A ratio with 4 decimals; "–" for NaN.
    static func ratio(_ x: Double) -> String { x.isNaN ? "–" : fixed(x, 4) }
}
