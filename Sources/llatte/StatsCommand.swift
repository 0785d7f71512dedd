import ArgumentParser
import Events
import Pipeline
import Store
import Support

/// `llatte stats`: what a history store holds, store-wide or for one user.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show a history store's settings and totals, or one user's versions, history and features.")

    @Option(name: .customLong("history-store"), help: "Path of the history store.")
    var historyStore: String

    @Option(name: .customLong("user"), help: "Show this user (unsigned 64-bit id).")
    var user: UInt64?

    @Flag(name: .customLong("json"), help: "Print JSON.")
    var json = false

    @Flag(name: .customLong("events"), help: "With --user: list the retained events.")
    var events = false

    func run() throws {
        let store: HistoryStore
        do { store = try HistoryStore(readingAt: historyStore) } catch {
            throw exitWith(.failure, "llatte stats: \(error)")
        }
        if let user {
            try showUser(store, user)
            return
        }
        let s = try store.stats()
        if json {
            var w = JSONWriter()
            w.raw("{")
            w.key("history_store", first: true); w.string(historyStore)
            w.key("conversion_types"); w.raw("[" + store.settings.conversionTypes.map { t in var x = JSONWriter(); x.string(t); return String(decoding: x.bytes, as: UTF8.self) }.joined(separator: ",") + "]")
            for (k, v) in [("min_ts", store.settings.minTs), ("max_ts", store.settings.maxTs), ("retention_cap", Int64(store.settings.retentionCap)),
                           ("users", s.users), ("history_events", s.historyEvents), ("stored_events", s.storedEvents),
                           ("retained_events", s.retainedEvents), ("chunks", s.chunks), ("converters", s.converters),
                           ("files", s.files), ("quarantined", s.quarantined), ("duplicates", s.duplicates),
                           ("dictionary_entries", s.dictionaryEntries), ("feature_users", s.featureUsers),
                           ("feature_snapshots", s.featureSnapshots), ("tombstones", s.tombstones),
                           ("max_history_version", s.maxHistoryVersion)] {
                w.key(k); w.raw(String(v))
            }
            w.raw("}")
            print(String(decoding: w.bytes, as: UTF8.self))
        } else {
            print("history store   \(historyStore)")
            print("settings        \(store.settings)")
            print("files ingested  \(s.files)  (quarantined lines \(s.quarantined), duplicate events dropped \(s.duplicates))")
            print("users           \(s.users)  (converters \(s.converters), with features \(s.featureUsers), forgotten \(s.tombstones))")
            print("events          \(s.historyEvents) distinct ever, \(s.retainedEvents) retained, \(s.storedEvents) stored in \(s.chunks) chunks")
            print("max history     \(s.maxHistoryVersion) events")
            print("dictionary      \(s.dictionaryEntries) type/surface strings; feature snapshots \(s.featureSnapshots)")
        }
    }

    private func showUser(_ store: HistoryStore, _ user: UInt64) throws {
        let h = try store.history(user)
        let f = try store.features(user)
        guard h != nil || f != nil else { throw exitWith(.failure, "llatte stats: user \(user) is not in \(historyStore)") }
        let text = { (b: [UInt8]) in String(decoding: b, as: UTF8.self) }
        if json {
            var w = JSONWriter()
            w.raw("{")
            w.key("user_id", first: true); w.raw(String(user))
            w.key("history_version"); w.raw(String(h?.state.historyVersion ?? 0))
            w.key("last_conversion_version"); w.raw(String(h?.state.lastConversionVersion ?? 0))
            w.key("retained_events"); w.raw(String(h?.events.count ?? 0))
            w.key("as_of"); w.raw(h?.asOf.map { String($0) } ?? "null")
            if events, let h {
                w.key("events"); w.raw("[")
                for (k, e) in h.events.enumerated() {
                    if k > 0 { w.raw(",") }
                    w.raw("{")
                    w.key("ts", first: true); w.raw(String(e.ts))
                    w.key("event_id")
                    switch e.eventID { case let .integer(v): w.raw(String(v)); case let .string(b): w.string(b) }
                    w.key("item_id"); w.raw(String(e.itemID))
                    w.key("type"); w.string(try store.dictionaryBytes(e.type))
                    w.key("surface"); w.string(try store.dictionaryBytes(e.surface))
                    w.key("dwell_ms"); w.number(e.dwellMs)
                    w.key("value"); w.number(e.value)
                    w.raw("}")
                }
                w.raw("]")
            }
            w.raw("}")
            print(String(decoding: w.bytes, as: UTF8.self))
            return
        }
        print("user                     \(user)")
        print("history_version          \(h?.state.historyVersion ?? 0)")
        print("last_conversion_version  \(h?.state.lastConversionVersion ?? 0)")
        print("retained events          \(h?.events.count ?? 0)")
        print("as_of                    \(h?.asOf.map(iso8601UTC) ?? "none")")
        if let f {
            let fields = f.fields.map { field -> String in
                switch field.value {
                case let .categorical(b): return "\(text(field.name))=\(text(b))"
                case let .dense(d): return "\(text(field.name))=\(d)"
                }
            }
            print("features (snapshot \(f.snapshot))  \(fields.joined(separator: " "))")
        }
        if events, let h {
            for e in h.events {
                print("  \(iso8601UTC(e.ts)) \(e.eventID) item=\(e.itemID) \(text(try store.dictionaryBytes(e.type)))/\(text(try store.dictionaryBytes(e.surface))) dwell_ms=\(e.dwellMs) value=\(e.value)")
            }
        }
    }
}
