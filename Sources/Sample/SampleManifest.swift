import Support

/// `manifest.json`: the options a data set was generated with and what it holds, so a test or a
/// benchmark can check ingest's counts against the generator's.
///
/// Deterministic like the data: no timestamps, no durations, keys in a fixed order.
public struct SampleManifest: Sendable {
    public static let format = "llatte-sample-v1"

    public var options: SampleOptions
    public var counts: SampleCounts
    public var itemsInCatalog: Int
    /// Items shown at least once, and those of them missing from the catalog.
    public var itemsSeen: Int
    public var itemsSeenMissingFromCatalog: Int
    /// Users with at least one event, and the distribution of distinct events per such user.
    public var usersWithEvents: Int
    public var historyLength: Distribution
    /// Users with at least one conversion.
    public var usersWithConversions: Int
    public var eventFiles: [WrittenFile]
    public var truthImpressions: WrittenFile?

    /// Quantiles of a count over users (nearest rank).
    public struct Distribution: Sendable, Equatable {
        public var mean: Double
        public var p10: Int, p50: Int, p90: Int, p99: Int, max: Int
        /// Users above 256, 1,024 and 4,096 (the bench n_max values).
        public var over256: Int, over1024: Int, over4096: Int

        init(_ values: [Int]) {
            let v = values.sorted()
            func q(_ f: Double) -> Int {
                guard !v.isEmpty else { return 0 }
                let rank = Int((f * Double(v.count)).rounded(.up))  // 1-based nearest rank
                return v[Swift.min(Swift.max(rank, 1), v.count) - 1]
            }
            mean = v.isEmpty ? 0 : Double(v.reduce(0, +)) / Double(v.count)
            p10 = q(0.1); p50 = q(0.5); p90 = q(0.9); p99 = q(0.99)
            self.max = v.last ?? 0
            over256 = v.filter { $0 > 256 }.count
            over1024 = v.filter { $0 > 1024 }.count
            over4096 = v.filter { $0 > 4096 }.count
        }
    }

    /// The manifest as pretty-printed JSON (one member per line), ending in a newline.
    public func json() -> [UInt8] {
        var w = JSONWriter()
        let o = options
        var depth = 0
        func newline() {
            w.raw("\n")
            for _ in 0..<depth { w.raw("  ") }
        }
        var first = [true]
        func key(_ k: String) {
            if !first[first.count - 1] { w.raw(",") }
            first[first.count - 1] = false
            newline()
            w.string(k)
            w.raw(": ")
        }
        func open(_ k: String?) {
            if let k { key(k) }
            w.raw("{")
            depth += 1
            first.append(true)
        }
        func close() {
            depth -= 1
            first.removeLast()
            newline()
            w.raw("}")
        }
        func int(_ k: String, _ v: Int) { key(k); w.raw(String(v)) }
        func int64(_ k: String, _ v: Int64) { key(k); w.raw(String(v)) }
        func num(_ k: String, _ v: Double) { key(k); w.number(v) }
        func str(_ k: String, _ v: String) { key(k); w.string(v) }
        func bool(_ k: String, _ v: Bool) { key(k); w.raw(v ? "true" : "false") }
        func file(_ f: WrittenFile) {
            open(nil)
            str("path", f.path)
            int("lines", f.lines)
            int("bytes_uncompressed", f.uncompressedBytes)
            int("bytes", f.compressedBytes)
            int("frames", f.frames)
            str("content_sha256", f.contentSHA256)
            close()
        }

        open(nil)
        str("format", SampleManifest.format)
        open("options")
        int("users", o.users)
        int("days", o.days)
        key("seed"); w.raw(String(o.seed))
        int("items", o.resolvedItems)
        int64("start_ts", o.startTs)
        num("bad_rate", o.badRate)
        num("late_rate", o.lateRate)
        num("duplicate_rate", o.duplicateRate)
        bool("short_history", o.shortHistory)
        num("escape_rate", o.escapeRate)
        num("shuffle_keys_rate", o.shuffleKeysRate)
        num("nested_unknown_rate", o.nestedUnknownRate)
        bool("truth", o.writeTruth)
        num("activity_scale", o.activityScale)
        num("activity_sigma", o.activitySigma)
        if o.periodicShare > 0 { num("periodic_share", o.periodicShare) }
        if o.returningShare > 0 { num("returning_share", o.returningShare) }
        if let t = o.truthImpressionDays { int("truth_impression_days", t) }
        int("frame_bytes", o.frameBytes)
        close()
        open("ts_range")
        int64("min_ts", o.resolvedMinTs)
        int64("max_ts", o.resolvedMaxTs)
        close()
        str("semantic_model", SemanticModel.id)
        int("d_sem", SemanticModel.dimension)
        key("conversion_types"); w.raw("[\"purchase\", \"lead\", \"app_install\"]")
        key("categories")
        w.raw("[")
        for (i, c) in SampleVocabulary.categories.enumerated() {
            if i > 0 { w.raw(", ") }
            w.string(c.name)
        }
        w.raw("]")

        open("counts")
        int("users", o.users)
        int("users_with_events", usersWithEvents)
        int("users_with_conversions", usersWithConversions)
        int("items", o.resolvedItems)
        int("catalog_items", itemsInCatalog)
        int("items_seen", itemsSeen)
        int("items_seen_missing_from_catalog", itemsSeenMissingFromCatalog)
        int("lines", counts.lines)
        int("event_lines", counts.eventLines)
        int("events", counts.distinctEvents)
        int("impressions", counts.impressions)
        int("clicks", counts.clicks)
        int("conversions", counts.conversions)
        int("active_user_days", counts.activeUserDays)
        int("conversion_user_days", counts.conversionUserDays)
        int("string_event_ids", counts.stringEventIDs)
        int("late_events", counts.lateEvents)
        int("duplicates", counts.duplicates)
        int("duplicates_across_files", counts.duplicatesAcrossFiles)
        int("bad_lines", counts.badLines)
        open("bad_by_reason")
        for reason in BadLineKind.allCases.map(\.reason).uniqued() {
            var n = 0
            for (i, k) in BadLineKind.allCases.enumerated() where k.reason == reason { n += counts.badByKind[i] }
            int(reason.rawValue, n)
        }
        close()
        open("bad_by_kind")
        for (i, k) in BadLineKind.allCases.enumerated() { int(k.rawValue, counts.badByKind[i]) }
        close()
        open("events_by_type")
        for t in SampleVocabulary.EventType.allCases { int(t.name, counts.byType[t.rawValue]) }
        close()
        open("events_by_surface")
        for s in SampleVocabulary.Surface.allCases { int(s.name, counts.bySurface[s.rawValue]) }
        close()
        close()

        open("history_length")
        num("mean", (historyLength.mean * 100).rounded() / 100)
        int("p10", historyLength.p10)
        int("p50", historyLength.p50)
        int("p90", historyLength.p90)
        int("p99", historyLength.p99)
        int("max", historyLength.max)
        int("users_over_256", historyLength.over256)
        int("users_over_1024", historyLength.over1024)
        int("users_over_4096", historyLength.over4096)
        close()

        key("event_files")
        w.raw("[")
        depth += 1
        first.append(true)
        for f in eventFiles {
            if !first[first.count - 1] { w.raw(",") }
            first[first.count - 1] = false
            newline()
            file(f)
        }
        depth -= 1
        first.removeLast()
        newline()
        w.raw("]")
        if let t = truthImpressions {
            key("truth_impressions")
            file(t)
        }
        close()
        w.raw("\n")
        return w.bytes
    }
}

extension Sequence where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
