import Events
import Store
import Support

/// What the reference computed for one user of a case set.
public struct ExpectedEmbedding: Sendable {
    public var userID: UInt64
    public var nEvents: Int
    public var asOf: Int64?
    /// [K·D] as the reference computed it (float64, rounded to f32).
    public var z: [Float]
    public var codes: [Int8]
    public var scales: [Float]
}

/// Raw inputs with expected embeddings (`selftest.json`, parity goldens; format `llatte-cases-v1`):
/// event lines, feature-record lines and catalog rows, so a case is checked from raw events.
public struct CaseSet: Sendable {
    public static let format = "llatte-cases-v1"
    public var semanticModel: String
    public var dSem: Int
    public var eventLines: [[UInt8]]
    public var featureLines: [[UInt8]]
    public var catalog: [UInt64: [Float]]
    public var expected: [ExpectedEmbedding]

    public static func load(_ path: String) throws(CheckpointError) -> CaseSet {
        let bytes: [UInt8]
        do { bytes = try Files.readAll(path) } catch { throw CheckpointError(error) }
        return try parse(bytes, file: path)
    }

    public static func parse(_ bytes: [UInt8], file: String) throws(CheckpointError) -> CaseSet {
        let v: JSONValue
        do { v = try JSONValue.parse(bytes) } catch { throw CheckpointError(file: file, "not valid JSON: \(error)") }
        func fail(_ m: String) -> CheckpointError { CheckpointError(file: file, m) }
        guard v["format"]?.stringValue == format else { throw fail("field format: \"\(format)\" expected") }
        guard let model = v["semantic_model"]?.stringValue else { throw fail("field semantic_model missing") }
        guard let dSem = v["d_sem"]?.numberValue?.int64, dSem > 0, dSem <= 65536 else { throw fail("field d_sem missing or invalid") }
        func lines(_ k: String) throws(CheckpointError) -> [[UInt8]] {
            guard let a = v[k]?.arrayValue else { throw fail("field \(k): an array of strings is required") }
            var out: [[UInt8]] = []
            for x in a {
                guard case let .string(b) = x else { throw fail("field \(k): an array of strings is required") }
                out.append(b)
            }
            return out
        }
        func floats(_ x: JSONValue?, _ what: String) throws(CheckpointError) -> [Float] {
            guard let a = x?.arrayValue else { throw fail("\(what): an array of numbers is required") }
            var out: [Float] = []
            out.reserveCapacity(a.count)
            for e in a {
                guard let n = e.numberValue else { throw fail("\(what): an array of numbers is required") }
                out.append(Float(n.double))
            }
            return out
        }
        var set = CaseSet(semanticModel: model, dSem: Int(dSem), eventLines: try lines("events"), featureLines: try lines("features"),
                          catalog: [:], expected: [])
        guard let rows = v["catalog"]?.arrayValue else { throw fail("field catalog: an array is required") }
        for (i, r) in rows.enumerated() {
            guard let id = r["item_id"]?.numberValue?.uint64 else { throw fail("catalog[\(i)].item_id: an unsigned integer is required") }
            let vec = try floats(r["vector"], "catalog[\(i)].vector")
            guard vec.count == Int(dSem) else { throw fail("catalog[\(i)].vector: \(dSem) values expected, found \(vec.count)") }
            set.catalog[id] = vec
        }
        guard let exp = v["expected"]?.arrayValue else { throw fail("field expected: an array is required") }
        for (i, e) in exp.enumerated() {
            let what = "expected[\(i)]"
            guard let id = e["user_id"]?.numberValue?.uint64 else { throw fail("\(what).user_id: an unsigned integer is required") }
            guard let n = e["n_events"]?.numberValue?.int64 else { throw fail("\(what).n_events: an integer is required") }
            var asOf: Int64?
            if let a = e["as_of"], a != .null {
                guard let t = a.numberValue?.int64 else { throw fail("\(what).as_of: an integer or null is required") }
                asOf = t
            }
            func matrix(_ k: String) throws(CheckpointError) -> [Float] {
                guard let rows = e[k]?.arrayValue else { throw fail("\(what).\(k): an array of rows is required") }
                var out: [Float] = []
                for row in rows { out += try floats(row, "\(what).\(k)") }
                return out
            }
            let z = try matrix("z")
            let codesF = try matrix("codes")
            guard codesF.allSatisfy({ $0 >= -127 && $0 <= 127 && $0 == $0.rounded() }) else { throw fail("\(what).codes: integers in -127...127 are required") }
            set.expected.append(ExpectedEmbedding(userID: id, nEvents: Int(n), asOf: asOf, z: z, codes: codesF.map { Int8($0) },
                                                  scales: try floats(e["scales"], "\(what).scales")))
        }
        return set
    }
}

/// Case-set events grouped per user without a store: parsed by the event reader's parser,
/// deduplicated by (user, event id) with the first winning, in history order.
public struct CaseHistories {
    public var events: [UInt64: [StoredEvent]] = [:]
    public var features: [UInt64: UserFeatures] = [:]
    public let parser = EventParser(rules: ValidationRules(minTs: .min, maxTs: .max))

    public init(_ set: CaseSet, file: String) throws(CheckpointError) {
        let batch = EventBatch()
        struct Key: Hashable { let user: UInt64; let id: EventID }
        var seen = Set<Key>()
        for (i, line) in set.eventLines.enumerated() {
            batch.removeAll()
            if let r = line.withUnsafeBufferPointer({ parser.parse($0, lineNumber: i + 1, into: batch) }) {
                throw CheckpointError(file: file, "events[\(i)]: \(r.reason.rawValue)\(r.field.map { " (\($0))" } ?? ""): \(r.detail)")
            }
            let e = batch.events[0]
            let id = batch.eventID(e)
            if !seen.insert(Key(user: e.userID, id: id)).inserted { continue }
            events[e.userID, default: []].append(StoredEvent(ts: e.ts, itemID: e.itemID, eventID: id, type: e.type, surface: e.surface,
                                                              dwellMs: e.dwellMs, value: e.value))
        }
        for k in events.keys { events[k]!.sortInHistoryOrder() }
        for (i, line) in set.featureLines.enumerated() {
            switch UserFeatures.parse(line) {
            case let .success(f): features[f.userID] = f
            case let .failure(r): throw CheckpointError(file: file, "features[\(i)]: \(r.reason.rawValue): \(r.detail)")
            }
        }
    }
}
