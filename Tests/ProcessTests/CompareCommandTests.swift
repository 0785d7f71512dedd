#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Store
import Support
import Testing
import TestSupport

/// `llatte model compare` on a backfilled store: a second backfill with a renamed copy of the
/// checkpoint (same weights, another identity), a drifted version written through the store API,
/// and the HTML report rendered by headless Chromium.
@Suite struct CompareCommandTests {
    /// A backfilled world whose store also holds `golden-small-copy` (a real backfill of the copied
    /// checkpoint) and `golden-small-drift`: the backfill's rows with noise on the codes (more on
    /// interest 2, a lot for every fifth user), scales within ±3 %, the first three users left out,
    /// two users of its own, and one user's interests 0 and 1 swapped.
    struct DriftWorld {
        let world: PipelineWorld
        let swapped: UInt64
        var store: String { world.dir.file("out/embeddings.db") }

        init() throws {
            world = try PipelineWorld(users: 120)
            #expect(try world.run("backfill").wait() == 0)
            let copy = world.dir.file("checkpoint-copy")
            try FileManager.default.copyItem(atPath: Goldens.directory("small"), toPath: copy)
            let config = try String(contentsOfFile: copy + "/config.json", encoding: .utf8)
            try config.replacingOccurrences(of: "\"model_version\": \"golden-small\"", with: "\"model_version\": \"golden-small-copy\"")
                .write(toFile: copy + "/config.json", atomically: true, encoding: .utf8)
            let pipeline = try String(contentsOfFile: world.dir.file("backfill.yaml"), encoding: .utf8)
            world.dir.write("backfill-copy.yaml", text: pipeline.replacingOccurrences(of: Goldens.directory("small"), with: copy))
            let p = try ChildProcess(ChildProcess.llatte, ["run", world.dir.file("backfill-copy.yaml")], outputPrefix: world.dir.file("backfill-copy"))
            #expect(p.wait() == 0, "\(p.stderr)")

            let store = try EmbeddingStore(path: world.dir.file("out/embeddings.db"), create: false)
            let rows = try store.rows(version: "golden-small")
            swapped = rows[11].userID
            var x: UInt64 = 7
            func noise(_ amplitude: Double) -> Double {
                x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15)
                return (Double(x >> 11) / Double(1 << 53) - 0.5) * 2 * amplitude
            }
            var drifted: [EmbeddingRow] = []
            for (i, r) in rows.enumerated().dropFirst(3) {
                var row = r
                for k in 0..<4 {
                    let amplitude = (k == 2 ? 6.0 : 2.0) * (i % 5 == 0 ? 8 : 1)
                    for j in 0..<8 { row.codes[k * 8 + j] = Int8(max(-127, min(127, (Double(r.codes[k * 8 + j]) + noise(amplitude)).rounded()))) }
                    row.scales[k] *= Float(1 + noise(0.03))
                }
                if r.userID == swapped {
                    row.codes = Array(r.codes[8..<16] + r.codes[0..<8] + r.codes[16...])
                    row.scales = [r.scales[1], r.scales[0], r.scales[2], r.scales[3]]
                }
                drifted.append(row)
            }
            for (n, user) in [UInt64(77), 78].enumerated() {
                drifted.append(EmbeddingRow(userID: user, codes: (0..<32).map { Int8($0 - 16 + n) }, scales: [0.01, 0.02, 0.03, 0.04], nEvents: 1,
                                            asOf: nil, historyVersion: 1, computedAt: 1, runID: 1))
            }
            drifted.sort { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }
            let v = try store.ensureVersion("golden-small-drift", identity: String(repeating: "d1", count: 32), interests: 4, interestDim: 8)
            _ = try store.database.transaction { try store.upsert(drifted, into: v) }
            try store.updateCoverage(v.version)
        }

        func compare(_ args: [String], tag: String) throws -> ChildProcess {
            let p = try ChildProcess(ChildProcess.llatte, ["model", "compare"] + args + ["--embedding-store", store], outputPrefix: world.dir.file(tag))
            _ = p.wait()
            return p
        }
    }

    static func json(_ p: ChildProcess) throws -> [String: Any] {
        #expect(p.wait() == 0, "\(p.stderr)")
        return try #require(try? JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Any], "not JSON: \(p.stdout)")
    }

    /// Every number of every summary in a report's JSON.
    static func statistics(_ o: [String: Any]) -> [Double] {
        func summary(_ s: Any?) -> [Double] {
            let s = s as! [String: Any]
            return ["min", "max", "mean", "p1", "p5", "p50", "p95", "p99"].map { (s[$0] as! NSNumber).doubleValue }
        }
        func metrics(_ m: Any?) -> [Double] {
            let m = m as! [String: Any]
            return ["aligned_cosine", "best_match_cosine", "norm_ratio"].flatMap { summary(m[$0]) }
        }
        return metrics(o["all"]) + (o["per_interest"] as! [Any]).flatMap(metrics) + summary(o["user_mean_aligned_cosine"])
    }

    @Test func compareReportsCoverageAndDriftAsTextAndJSON() throws {
        let w = try DriftWorld()
        let text = try w.compare(["golden-small", "golden-small-drift"], tag: "text")
        #expect(text.wait() == 0, "\(text.stderr)")
        #expect(text.stdout.contains("users: 117 in both, 3 only in golden-small, 2 only in golden-small-drift"), "\(text.stdout)")
        #expect(text.stdout.contains("verdict: median aligned cosine") && text.stdout.contains("top 20 movers"), "\(text.stdout)")
        #expect(text.stdout.split(separator: "\n").contains { $0.hasPrefix("all ") } && text.stdout.contains(String(w.swapped)))

        let drift = try Self.json(try w.compare(["golden-small", "golden-small-drift", "--json", "--top", "5"], tag: "json"))
        let coverage = drift["coverage"] as! [String: Any]
        #expect((coverage["both"] as! NSNumber).intValue == 117 && (coverage["only_v1"] as! NSNumber).intValue == 3
                && (coverage["only_v2"] as! NSNumber).intValue == 2)
        let all = drift["all"] as! [String: Any], aligned = all["aligned_cosine"] as! [String: Any]
        #expect((aligned["count"] as! NSNumber).intValue == 117 * 4)
        #expect((aligned["p50"] as! NSNumber).doubleValue < 1 && (aligned["p50"] as! NSNumber).doubleValue > 0.9)
        let movers = drift["top_movers"] as! [[String: Any]]
        #expect(movers.count == 5)
        // The swapped user moved most in slots 0 and 1, yet its interests are all still there.
        let swapped = try #require(movers.first { ($0["user_id"] as! NSNumber).uint64Value == w.swapped }, "\(movers)")
        let best = (swapped["best_match_cosine"] as! [NSNumber]).map(\.doubleValue), al = (swapped["aligned_cosine"] as! [NSNumber]).map(\.doubleValue)
        #expect(best[0] > 0.9 && best[1] > 0.9 && al[0] < best[0] && al[1] < best[1], "\(swapped)")
        #expect((drift["v2"] as! [String: Any])["identity"] as? String == String(repeating: "d1", count: 32))

        // The same checkpoint under another name, and a version with itself: exactly 1 everywhere.
        for (other, tag) in [("golden-small-copy", "copy"), ("golden-small", "self")] {
            let same = try Self.json(try w.compare(["golden-small", other, "--json"], tag: tag))
            let cov = same["coverage"] as! [String: Any]
            #expect((cov["both"] as! NSNumber).intValue == 120 && (cov["only_v1"] as! NSNumber).intValue == 0 && (cov["only_v2"] as! NSNumber).intValue == 0)
            #expect(Self.statistics(same).allSatisfy { $0 == 1.0 }, "\(other)")
            #expect(same["drift"] as? String == "identical", "\(other)")
        }
    }

    @Test func compareRefusesAMissingStoreOrVersion() throws {
        let dir = TempDirectory()
        let missing = try ChildProcess(ChildProcess.llatte, ["model", "compare", "a", "b", "--embedding-store", dir.file("none.db")], outputPrefix: dir.file("missing"))
        #expect(missing.wait() == 1)
        #expect(missing.stderr.contains("llatte model compare: ") && missing.stderr.contains("none.db"), "\(missing.stderr)")
        let store = try EmbeddingStore(path: dir.file("e.db"))
        _ = try store.ensureVersion("a", identity: "x", interests: 2, interestDim: 2)
        let unknown = try ChildProcess(ChildProcess.llatte, ["model", "compare", "a", "b", "--embedding-store", dir.file("e.db")], outputPrefix: dir.file("unknown"))
        #expect(unknown.wait() == 1)
        #expect(unknown.stderr.contains("llatte model compare: ") && unknown.stderr.contains("no model version b"), "\(unknown.stderr)")
    }

    @Test func theHTMLReportRendersInHeadlessChromium() throws {
        let w = try DriftWorld()
        let html = w.world.dir.file("drift-report.html")
        let p = try w.compare(["golden-small", "golden-small-drift", "--html", html], tag: "html")
        #expect(p.wait() == 0, "\(p.stderr)")
        #expect(p.stdout.split(separator: "\n").count == 1 && p.stdout.contains(html), "\(p.stdout)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.components(separatedBy: "<svg").count - 1 >= 8 && page.contains("<rect") && !page.lowercased().contains("<script"))
        #expect(page.contains("golden-small-drift") && page.contains(String(w.swapped)) && page.contains("117"))
        for fetch in ["src=", "href=", "url(", "@import"] { #expect(!page.contains(fetch), "the page must not load \(fetch)") }

        // A person looks at it in a browser (kept in .build/test-output/drift-report.{html,png}).
        let png = try CompareScreenshot.render(html: html, name: "drift-report")
        let stats = try CompareScreenshot.stats(png)
        #expect(stats.width == 1280 && stats.height == 3500)
        #expect(stats.distinctColors >= 300, "only \(stats.distinctColors) distinct colours in \(png): is the page blank?")
        #expect(stats.unlikeBackground >= 0.05, "only \(stats.unlikeBackground) of the pixels of \(png) differ from the background")

        // Strings from the store are escaped.
        let odd = "<i>\"odd\" & 'name'</i>"
        let store = try EmbeddingStore(path: w.store, create: false)
        let v = try store.ensureVersion(odd, identity: "<b>", interests: 4, interestDim: 8)
        _ = try store.database.transaction { try store.upsert(Array(try store.rows(version: "golden-small").prefix(5)), into: v) }
        let escaped = try w.compare(["golden-small", odd, "--html", w.world.dir.file("odd.html")], tag: "odd")
        #expect(escaped.wait() == 0, "\(escaped.stderr)")
        let oddPage = try String(contentsOfFile: w.world.dir.file("odd.html"), encoding: .utf8)
        #expect(oddPage.contains("&lt;i&gt;&quot;odd&quot; &amp; &#39;name&#39;&lt;/i&gt;") && oddPage.contains("&lt;b&gt;"))
        #expect(!oddPage.contains("<i>") && !oddPage.contains("\"id\"><b>"))
    }
}
