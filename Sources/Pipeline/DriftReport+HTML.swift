#if canImport(Glibc)
import Glibc
#endif
import Store
import Support

extension DriftReport {
    /// A self-contained HTML page (inline CSS and SVG; no script, no network): the verdict, both
    /// versions, coverage, histograms, the per-interest table and the top movers. Every string taken
    /// from the store is escaped.
    public static func html(_ c: VersionComparison) -> String {
        let (drift, line) = verdict(c)
        let v1 = escape(c.v1.version), v2 = escape(c.v2.version)
        var h = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Embedding drift: \(v1) → \(v2)</title>
            <style>\(css)</style>
            </head><body><main>
            <header>
            <p class="eyebrow">llatte model compare</p>
            <h1>Embedding drift: <span class="ver">\(v1)</span> → <span class="ver">\(v2)</span></h1>
            <p class="sub">Embedding store <code>\(escape(c.storePath))</code> · \(c.interests) interests × \(c.interestDim) dimensions</p>
            <p class="verdict \(drift.rawValue)">\(escape(line.prefix(1).uppercased() + line.dropFirst()))</p>
            \(c.coverage.both == 0 ? "" : "<p class=\"sub\">Aligned cosine over \(c.all.aligned.count) interest vectors of \(c.coverage.both) users: p1 \(cosine(c.all.aligned.p1)) · p5 \(cosine(c.all.aligned.p5)) · p50 \(cosine(c.all.aligned.p50)) · lowest \(cosine(c.all.aligned.min))</p>")
            </header>

            """
        h += section("Model versions", versionsTable(c))
        h += section("Coverage", coverageBlock(c))
        let all = c.all
        h += section("Distributions over all users and interests", """
            <div class="grid2">
            \(chart("Aligned cosine", "cos(V1 interest k, V2 interest k), each user and interest", all.aligned, color: aligned, xLabel: "aligned cosine", yLabel: "interest vectors"))
            \(chart("Best-match cosine", "max over V2 interests k′ of cos(V1 k, V2 k′)", all.bestMatch, color: best, xLabel: "best-match cosine", yLabel: "interest vectors"))
            \(chart("Norm ratio", "|V2 interest k| / |V1 interest k|, log scale", all.normRatio, color: ratioColor, xLabel: "norm ratio (log scale)", yLabel: "interest vectors"))
            \(chart("Per-user mean aligned cosine", "each user's aligned cosine averaged over its \(c.interests) interests", c.userMeanAligned, color: userColor, xLabel: "mean aligned cosine", yLabel: "users"))
            </div>
            """)
        h += section("Per interest", interestTable(c) + smallMultiples(c))
        h += section("Users that moved most", moversTable(c))
        h += section("How to read this", legend)
        h += "</main></body></html>\n"
        return h
    }

    // MARK: - Sections

    private static func section(_ title: String, _ body: String) -> String {
        "<section class=\"card\"><h2>\(escape(title))</h2>\n\(body)\n</section>\n"
    }

    private static func versionsTable(_ c: VersionComparison) -> String {
        var rows = ""
        for (role, v, users) in [("V1", c.v1, c.coverage.both + c.coverage.onlyV1), ("V2", c.v2, c.coverage.both + c.coverage.onlyV2)] {
            rows += """
                <tr><td><b>\(role)</b></td><td class="ver">\(escape(v.version))</td><td><span class="status \(escape(v.status.rawValue))">\(escape(v.status.rawValue))</span></td>\
                <td><code class="id">\(escape(v.identity))</code></td><td>\(v.interests) × \(v.interestDim)</td><td>\(users)</td><td>\(v.coverage)</td></tr>

                """
        }
        return """
            <table class="versions"><thead><tr><th></th><th>Version</th><th>Status</th><th>Checkpoint identity</th><th>K × D</th>\
            <th>Users with rows</th><th>Recorded coverage</th></tr></thead><tbody>
            \(rows)</tbody></table>
            """
    }

    private static func coverageBlock(_ c: VersionComparison) -> String {
        let cov = c.coverage, total = max(1, cov.both + cov.onlyV1 + cov.onlyV2)
        let parts = [("both", "in both versions", cov.both), ("only1", "only in \(escape(c.v1.version)) (V1)", cov.onlyV1),
                     ("only2", "only in \(escape(c.v2.version)) (V2)", cov.onlyV2)]
        let bar = parts.filter { $0.2 > 0 }.map { "<div class=\"seg \($0.0)\" style=\"flex: \($0.2)\" title=\"\($0.2) users \($0.1)\"></div>" }.joined()
        let stats = parts.map { "<div class=\"stat\"><span class=\"swatch \($0.0)\"></span><b>\($0.2)</b> users \($0.1) <span class=\"muted\">(\(fixed(100 * Double($0.2) / Double(total), 1)) %)</span></div>" }.joined()
        return "<div class=\"covbar\">\(bar)</div><div class=\"stats\">\(stats)</div>"
    }

    private static func interestTable(_ c: VersionComparison) -> String {
        func row(_ name: String, _ a: VersionComparison.Summary, _ b: VersionComparison.Summary?, _ r: VersionComparison.Summary?, cls: String = "") -> String {
            let cells = [a.p1, a.p5, a.p50, a.p95, a.p99, a.mean].map { "<td class=\"\(heat($0))\">\(cosine($0))</td>" }.joined()
            return "<tr class=\"\(cls)\"><td>\(name)</td><td>\(a.count)</td>\(cells)<td class=\"\(b.map { heat($0.p50) } ?? "")\">\(b.map { cosine($0.p50) } ?? "")</td><td>\(r.map { ratio($0.p50) } ?? "")</td></tr>\n"
        }
        var rows = ""
        for (k, m) in c.perInterest.enumerated() { rows += row("interest \(k)", m.aligned, m.bestMatch, m.normRatio) }
        rows += row("all interests", c.all.aligned, c.all.bestMatch, c.all.normRatio, cls: "total")
        rows += row("per-user mean", c.userMeanAligned, nil, nil, cls: "total")
        return """
            <table class="nums"><thead>
            <tr><th rowspan="2"></th><th rowspan="2">Values</th><th colspan="6" class="group">Aligned cosine</th><th class="group">Best-match</th><th class="group">Norm ratio</th></tr>
            <tr><th>p1</th><th>p5</th><th>p50</th><th>p95</th><th>p99</th><th>mean</th><th>p50</th><th>p50</th></tr>
            </thead><tbody>
            \(rows)</tbody></table>
            """
    }

    /// One aligned-cosine histogram per interest, on the same axes (the bins are shared with "all").
    private static func smallMultiples(_ c: VersionComparison) -> String {
        let counts = c.perInterest.flatMap(\.aligned.histogram.counts), yMax = counts.max() ?? 0, logY = wantsLogScale(counts)
        let charts = c.perInterest.enumerated().map { k, m in
            "<figure class=\"small\"><figcaption>Interest \(k) <span class=\"muted\">median \(cosine(m.aligned.p50))</span></figcaption>"
                + histogramSVG(m.aligned, color: aligned, xLabel: "aligned cosine", yLabel: "users", width: 250, height: 170, yMax: yMax, logY: logY) + outside(m.aligned) + "</figure>"
        }.joined(separator: "\n")
        return "<h3>Aligned cosine by interest</h3><div class=\"multiples\">\(charts)</div>"
    }

    private static func moversTable(_ c: VersionComparison) -> String {
        guard !c.topMovers.isEmpty else {
            return "<p class=\"muted\">\(c.coverage.both == 0 ? "No user has rows in both versions." : "No user moved: every aligned cosine is exactly 1.")</p>"
        }
        let heads = (0..<c.interests).map { "<th>Interest \($0)<br><span class=\"muted\">aligned / best</span></th>" }.joined()
        let rows = c.topMovers.enumerated().map { i, m in
            let cells = (0..<c.interests).map { "<td class=\"\(heat(m.aligned[$0]))\">\(cosine(m.aligned[$0])) <span class=\"muted\">/ \(cosine(m.bestMatch[$0]))</span></td>" }.joined()
            return "<tr><td>\(i + 1)</td><td><code>\(m.userID)</code></td><td class=\"\(heat(m.meanAligned))\"><b>\(cosine(m.meanAligned))</b></td>\(cells)</tr>"
        }.joined(separator: "\n")
        return """
            <p class="muted">The \(c.topMovers.count) users with the lowest mean aligned cosine (ties by user id). A low aligned but high best-match \
            cosine means the interest moved to another slot rather than changed.</p>
            <div class="scroll"><table class="nums movers"><thead><tr><th>#</th><th>User id</th><th>Mean aligned</th>\(heads)</tr></thead><tbody>
            \(rows)
            </tbody></table></div>
            """
    }

    private static let legend = """
        <dl class="legend">
        <dt>Aligned cosine</dt><dd>For each user with rows in both versions, the cosine between interest k of V1 and interest k of V2, \
        both dequantized (code × scale).</dd>
        <dt>Best-match cosine</dt><dd>The best cosine between interest k of V1 and any interest of V2: a retrained model may permute \
        its interests, which lowers the aligned cosine but not this one.</dd>
        <dt>Norm ratio</dt><dd>|V2 interest k| / |V1 interest k|. Not counted when the V1 vector is zero, unless both are (then 1).</dd>
        <dt>Conventions</dt><dd>Two zero vectors have cosine 1, one zero vector cosine 0; cosines are clamped to [−1, 1]; identical codes and \
        scales give exactly 1.</dd>
        <dt>Percentiles</dt><dd>Nearest rank: the p-th percentile of n values is the value of rank ⌈p·n/100⌉. Computed in fixed bins, \
        within 0.0001 for cosines and 0.07 % for ratios, exact when all values are equal.</dd>
        <dt>Histograms</dt><dd>At most 40 bars over the bulk of the values: from p1 less its distance to the median up to the largest \
        value (for ratios, the same on a log scale on both sides); values outside are counted under the chart. A count axis marked \
        (log) places n at log(1 + n), so single values still show.</dd>
        <dt>Verdict</dt><dd>By the median aligned cosine over all interests: identical when every cosine and ratio is exactly 1, \
        small drift from 0.999, moderate from 0.99, large below.</dd>
        </dl>
        """

    // MARK: - Charts

    private static let aligned = "#3566c8", best = "#8a4fbf", ratioColor = "#1f8a70", userColor = "#c8642d"

    private static func chart(_ title: String, _ caption: String, _ s: VersionComparison.Summary, color: String, xLabel: String, yLabel: String) -> String {
        let f = s.histogram.logScale ? ratio : cosine
        let stats = s.count == 0 ? "" : "n = \(s.count) · p1 \(f(s.p1)) · median \(f(s.p50)) · min \(f(s.min)) · max \(f(s.max))"
        return """
            <figure><figcaption><b>\(escape(title))</b> <span class="muted">\(escape(caption))</span><br><span class="muted">\(stats)</span></figcaption>
            \(histogramSVG(s, color: color, xLabel: xLabel, yLabel: yLabel, width: 540, height: 250))\(outside(s))</figure>
            """
    }

    /// A note of the values left out of a chart's x range, if any.
    private static func outside(_ s: VersionComparison.Summary) -> String {
        let h = s.histogram, f = h.logScale ? ratio : cosine
        var notes: [String] = []
        if h.below > 0, let e = h.edges.first { notes.append("\(h.below) below \(f(e)) (down to \(f(s.min)))") }
        if h.above > 0, let e = h.edges.last { notes.append("\(h.above) above \(f(e)) (up to \(f(s.max)))") }
        return notes.isEmpty ? "" : "<p class=\"note\">Not shown: \(notes.joined(separator: "; ")).</p>"
    }

    /// An SVG bar chart of a summary's plotting bins, with tick values on both axes, axis labels and
    /// the median marked; `yMax` and `logY` share the count axis between charts (by default, a log
    /// count axis when the tallest bar dwarfs the others).
    static func histogramSVG(_ s: VersionComparison.Summary, color: String, xLabel: String, yLabel: String,
                             width: Int, height: Int, yMax: Int? = nil, logY: Bool? = nil) -> String {
        let w = Double(width), h = Double(height)
        let (left, right, top, bottom) = (54.0, 14.0, 22.0, 44.0)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(xLabel)) histogram\">"
        let hist = s.histogram
        guard s.count > 0, let e0 = hist.edges.first, let e1 = hist.edges.last else {
            return svg + "<text x=\"\(w / 2)\" y=\"\(h / 2)\" text-anchor=\"middle\" class=\"tick\">no values</text></svg>"
        }
        // The x domain: the bins' range, widened around a single tall bin so it does not fill the plot.
        let log = hist.logScale
        var (lo, hi) = (e0, e1)
        if log { if hi / lo < 1.01 { lo /= 1.01; hi *= 1.01 } } else if hi - lo < 0.001 { lo = max(-1, hi - 0.001) }
        let u = { (x: Double) in log ? log2(Swift.max(x, 1e-300)) : x }
        let px = { (x: Double) in left + (u(x) - u(lo)) / (u(hi) - u(lo)) * (w - left - right) }
        let maxCount = Double(Swift.max(1, yMax ?? hist.counts.max() ?? 1)), logY = logY ?? wantsLogScale(hist.counts)
        // A log count axis maps n to log(1 + n), so a bar of 1 still shows.
        let py = { (n: Double) in h - bottom - (logY ? log1p(n) / log1p(maxCount) : n / maxCount) * (h - top - bottom) }
        // Grid and count ticks.
        var yTicks = niceTicks(0, maxCount, count: 4, integer: true)
        if logY {
            // Powers of 10, with 3 × 10^n between them when those alone are too few.
            let powers = (0...9).map { pow(10, Double($0)) }
            yTicks = [0] + (powers.filter { $0 <= maxCount }.count >= 3 ? powers : powers.flatMap { [$0, 3 * $0] }).filter { $0 <= maxCount }
        }
        for t in yTicks {
            let y = fixed(py(t), 1)
            svg += "<line x1=\"\(left)\" x2=\"\(w - right)\" y1=\"\(y)\" y2=\"\(y)\" class=\"grid\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y)\" dy=\"0.32em\" text-anchor=\"end\" class=\"tick\">\(Int(t))</text>"
        }
        // Bars, each with a tooltip.
        for (i, n) in hist.counts.enumerated() where n > 0 {
            let x0 = px(hist.edges[i]), x1 = px(hist.edges[i + 1]), y = py(Double(n))
            let range = log ? "\(ratio(hist.edges[i]))–\(ratio(hist.edges[i + 1]))" : "\(cosine(hist.edges[i]))–\(cosine(hist.edges[i + 1]))"
            svg += "<rect x=\"\(fixed(x0 + 0.5, 1))\" y=\"\(fixed(y, 1))\" width=\"\(fixed(Swift.max(1, x1 - x0 - 1), 1))\" height=\"\(fixed(h - bottom - y, 1))\" fill=\"\(color)\"><title>\(range): \(n)</title></rect>"
        }
        // Axes, x ticks and labels.
        svg += "<line x1=\"\(left)\" x2=\"\(w - right)\" y1=\"\(h - bottom)\" y2=\"\(h - bottom)\" class=\"axis\"/>"
        svg += "<line x1=\"\(left)\" x2=\"\(left)\" y1=\"\(top)\" y2=\"\(h - bottom)\" class=\"axis\"/>"
        for (t, label) in xTicks(lo, hi, log: log, count: width < 400 ? 3 : 5) {
            let x = fixed(px(t), 1)
            svg += "<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(h - bottom)\" y2=\"\(h - bottom + 5)\" class=\"axis\"/>"
            svg += "<text x=\"\(x)\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\" class=\"tick\">\(label)</text>"
        }
        svg += "<text x=\"\(fixed(left + (w - left - right) / 2, 1))\" y=\"\(h - 6)\" text-anchor=\"middle\" class=\"label\">\(escape(xLabel))</text>"
        svg += "<text transform=\"translate(13 \(fixed(top + (h - top - bottom) / 2, 1))) rotate(-90)\" text-anchor=\"middle\" class=\"label\">\(escape(yLabel))\(logY ? " (log)" : "")</text>"
        // The median.
        let m = fixed(px(s.p50), 1)
        svg += "<line x1=\"\(m)\" x2=\"\(m)\" y1=\"\(top - 4)\" y2=\"\(h - bottom)\" class=\"median\"/>"
        let anchor = px(s.p50) > w * 0.6 ? "end" : "start", dx = anchor == "end" ? -4 : 4
        svg += "<text x=\"\(m)\" dx=\"\(dx)\" y=\"\(top - 8)\" text-anchor=\"\(anchor)\" class=\"tick strong\">median \(log ? ratio(s.p50) : cosine(s.p50))</text>"
        return svg + "</svg>"
    }

    /// Whether counts want a log axis: the tallest bar is over 30 times the median non-empty one, so
    /// on a linear axis the tail would not show.
    static func wantsLogScale(_ counts: [Int]) -> Bool {
        let nonzero = counts.filter { $0 > 0 }.sorted()
        guard let top = nonzero.last else { return false }
        return top > 30 * nonzero[nonzero.count / 2]
    }

    /// Round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^n, about `count` of them.
    static func niceTicks(_ lo: Double, _ hi: Double, count: Int, integer: Bool = false) -> [Double] {
        var raw = (hi - lo) / Double(count)
        if integer { raw = Swift.max(raw, 1) }
        guard raw > 0 else { return [lo] }
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].first { $0 * mag >= raw * 0.999 }! * mag
        var out: [Double] = []
        var t = (lo / step).rounded(.up) * step
        while t <= hi + step * 1e-9 { out.append(t); t += step }
        return out
    }

    /// X ticks and their labels: round values on a linear axis; on a log axis 1, 2, 5 × 10^n when
    /// the range spans a decade or more, else round values placed on the log scale.
    private static func xTicks(_ lo: Double, _ hi: Double, log: Bool, count: Int) -> [(Double, String)] {
        func label(_ t: Double) -> String {
            let digits = t == 0 ? 0 : Swift.max(0, -Int(floor(log10(abs(t)) + 1e-9)))
            return fixed(t, Swift.min(12, digits))
        }
        if log && hi / lo >= 10 {
            var out: [Double] = []
            var p = pow(10, floor(log10(lo)))
            while p <= hi * 1.000001 {
                for f in [1.0, 2, 5] where p * f >= lo * 0.999999 && p * f <= hi * 1.000001 { out.append(p * f) }
                p *= 10
            }
            if out.count > 7 { out = out.filter { abs(log10($0) - log10($0).rounded()) < 1e-9 } }
            return out.map { ($0, label($0)) }
        }
        let ticks = niceTicks(lo, hi, count: count)
        let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
        let digits = Swift.max(0, -Int(floor(log10(step) + 1e-9)))
        return ticks.map { ($0, fixed($0, Swift.min(12, digits))) }
    }

    // MARK: - Helpers

    /// The table-cell class of a cosine: how far it is from 1, by the verdict's thresholds.
    private static func heat(_ x: Double) -> String {
        x.isNaN || x >= 0.999 ? "" : x >= 0.99 ? "h1" : x >= 0.9 ? "h2" : "h3"
    }

    /// Text safe inside HTML elements and attribute values.
    static func escape<S: StringProtocol>(_ s: S) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    private static let css = """
        :root { --ink: #1d2330; --muted: #5d6678; --line: #dde2ea; --bg: #f4f6f9; }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.5 "DejaVu Sans", "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
        main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 40px; }
        .eyebrow { margin: 0; color: var(--muted); font-size: 13px; letter-spacing: .06em; text-transform: uppercase; }
        h1 { font-size: 27px; margin: 2px 0 4px; }
        h2 { font-size: 18px; margin: 0 0 14px; }
        h3 { font-size: 15px; margin: 22px 0 8px; }
        .sub { margin: 0; color: var(--muted); }
        .ver { font-weight: 700; }
        code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
        code.id { font-size: 11px; white-space: nowrap; color: var(--muted); }
        .muted { color: var(--muted); font-weight: normal; }
        .verdict { font-size: 19px; font-weight: 700; margin: 16px 0 4px; padding: 12px 16px; border-radius: 8px; border-left: 6px solid; }
        .verdict.identical, .verdict.small { background: #e6f4ec; border-color: #2e9d62; }
        .verdict.moderate { background: #fff3dc; border-color: #e09a1a; }
        .verdict.large { background: #fde8e8; border-color: #d64545; }
        .verdict.unknown { background: #eceff4; border-color: #8a93a6; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px; margin: 18px 0; }
        table { border-collapse: collapse; width: 100%; }
        th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
        th { font-size: 13px; color: var(--muted); font-weight: 600; }
        .nums td, .nums th { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        .nums td:first-child, .nums th:first-child { text-align: left; }
        .nums th.group { text-align: center; border-bottom: 2px solid var(--line); }
        tr.total td { font-weight: 700; background: #f7f8fb; }
        .status { padding: 1px 8px; border-radius: 10px; font-size: 13px; background: #eceff4; }
        .status.active { background: #dff1e6; color: #1c6b41; }
        .status.building { background: #fff0d6; color: #8a5a00; }
        .status.ready { background: #e1ebfb; color: #244f9e; }
        td.h1 { background: #fff6d8; } td.h2 { background: #ffe4c7; } td.h3 { background: #fbd3d3; }
        .covbar { display: flex; height: 26px; border-radius: 6px; overflow: hidden; background: #eceff4; }
        .seg.both, .swatch.both { background: #3566c8; } .seg.only1, .swatch.only1 { background: #9aa7bf; } .seg.only2, .swatch.only2 { background: #e0a030; }
        .stats { display: flex; gap: 28px; margin-top: 10px; flex-wrap: wrap; }
        .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px; vertical-align: -1px; }
        .grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 18px 28px; }
        .multiples { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 10px 16px; }
        .note { margin: 2px 0 0; font-size: 13px; color: var(--muted); }
        .versions td:not(:nth-child(4)) { white-space: nowrap; }
        figure { margin: 0; }
        figcaption { font-size: 14px; margin-bottom: 4px; }
        svg { display: block; overflow: visible; }
        svg .tick { font-size: 12px; fill: var(--muted); }
        svg .tick.strong { fill: var(--ink); font-weight: 700; }
        svg .label { font-size: 12.5px; fill: var(--ink); }
        svg .grid { stroke: #e8ebf0; }
        svg .axis { stroke: #8a93a6; }
        svg .median { stroke: #1d2330; stroke-dasharray: 4 3; }
        .scroll { overflow-x: auto; }
        .legend { display: grid; grid-template-columns: 170px 1fr; gap: 6px 16px; margin: 0; }
        .legend dt { font-weight: 700; }
        .legend dd { margin: 0; color: var(--muted); }
        """
}
