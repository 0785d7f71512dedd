import Pipeline
import Store
import Testing
import TestSupport

/// The `promote` keys of a pipeline file and the optional checkpoint of nightly and refresh.
@Suite struct PromoteConfigTests {
    func load(_ kind: String, _ extra: String, checkpoint: Bool = true) throws(ConfigError) -> PipelineConfig {
        let dir = TempDirectory()
        let path = dir.write("p.yaml", text: """
            pipeline: \(kind)
            history_store: h.db
            embedding_store: e.db
            \(checkpoint ? "checkpoint: ck" : "")
            inputs: {events: [logs], catalog: c.db}
            history: {conversion_types: [purchase], min_ts: 0, max_ts: 10}
            \(extra)
            """)
        return try PipelineConfig.load(path)
    }

    @Test func promoteTakesAModeOrAMappingWithDefaults() throws {
        #expect(try load("backfill", "").encode?.promote == .auto)
        #expect(try load("backfill", "promote: never").encode?.promote == .never)
        let m = try #require(try load("backfill", "promote: {mode: never, min_coverage: 0.5, max_failed_fraction: 0.01}").encode)
        #expect(m.promote == .never && m.promotion.minCoverage == 0.5 && m.promotion.maxFailedFraction == 0.01)
        let d = try #require(try load("backfill", "promote: {min_coverage: 1}").encode)
        #expect(d.promote == .auto && d.promotion.minCoverage == 1 && d.promotion.maxFailedFraction == 0.001)
    }

    @Test func badPromoteKeysAreRefusedNamingTheKey() throws {
        for (yaml, key) in [("promote: sometimes", "promote.mode"), ("promote: {min_coverage: 1.5}", "promote.min_coverage"),
                            ("promote: {max_failed_fraction: -1}", "promote.max_failed_fraction"), ("promote: {when: auto}", "promote.when")] {
            #expect { try load("backfill", yaml) } throws: { ($0 as? ConfigError)?.key == key }
        }
        #expect { try load("refresh", "promote: auto") } throws: { ($0 as? ConfigError)?.key == "promote" }
    }

    @Test func onlyABackfillNeedsACheckpoint() throws {
        #expect(try load("refresh", "", checkpoint: false).encode?.checkpoint == nil)
        #expect(try load("nightly", "", checkpoint: false).encode?.checkpoint == nil)
        #expect { try load("backfill", "", checkpoint: false) } throws: { ($0 as? ConfigError)?.key == "checkpoint" }
    }
}
