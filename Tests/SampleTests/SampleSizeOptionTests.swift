import Sample
import Support
import Testing
import TestSupport

/// The options that size a data set: activity scale and spread, and the truth window.
@Suite struct SampleSizeOptionTests {
    @Test func activityScaleShrinksHistoriesAndSigmaWidensTheTail() throws {
        let a = TempDirectory(), b = TempDirectory(), c = TempDirectory()
        let full = try generate(into: a.path, users: 300, days: 10, seed: 3) { $0.writeTruth = false }
        let scaled = try generate(into: b.path, users: 300, days: 10, seed: 3) { $0.writeTruth = false; $0.activityScale = 0.25 }
        let wide = try generate(into: c.path, users: 300, days: 10, seed: 3) {
            $0.writeTruth = false; $0.activityScale = 0.25; $0.activitySigma = 1.6
        }
        let ratio = Double(scaled.counts.distinctEvents) / Double(full.counts.distinctEvents)
        #expect(ratio > 0.15 && ratio < 0.4, "scale 0.25 gave \(ratio) of the events")
        let maxScaled = scaled.historyLength.max
        let maxWide = wide.historyLength.max
        #expect(maxWide > maxScaled, "sigma 1.6 should lengthen the longest history (\(maxWide) vs \(maxScaled))")
    }

    @Test func truthImpressionDaysKeepsOnlyTheLastDays() throws {
        let dir = TempDirectory()
        let m = try generate(into: dir.path, users: 60, days: 6, seed: 9) { $0.truthImpressionDays = 2 }
        let truth = try readJSONLines(dir.file("truth/impressions.jsonl.lz4"))
        #expect(!truth.isEmpty)
        let firstKept = m.options.startTs + 4 * 86_400
        #expect(truth.allSatisfy { ($0["ts"]?.numberValue?.int64 ?? 0) >= firstKept })
        #expect(truth.count < m.counts.impressions)
    }

    @Test func invalidSizeOptionsAreRefused() {
        var o = SampleOptions(outputDirectory: "/tmp/x", users: 10, days: 2, seed: 1)
        o.activityScale = 0
        #expect(throws: SampleError.self) { try o.validate() }
        o.activityScale = 1
        o.truthImpressionDays = 0
        #expect(throws: SampleError.self) { try o.validate() }
    }
}
