#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Events
import Store
import Support

/// Where item semantic vectors come from: the SQLite catalog, or the rows a self-test case carries.
public protocol SemanticVectorSource: AnyObject {
    var semanticModel: String { get }
    var dSem: Int { get }
    /// Copies the item's vector into `out` (d_sem floats); false if the item is unknown.
    func vector(for itemID: UInt64, into out: UnsafeMutableBufferPointer<Float>) throws -> Bool
    /// Runs `body` with the source held open for many lookups (a read transaction of the catalog).
    func reading<T>(_ body: () throws -> T) throws -> T
}

extension SemanticVectorSource {
    public func reading<T>(_ body: () throws -> T) throws -> T { try body() }
}

extension Catalog: SemanticVectorSource {}

/// Item vectors held in memory (a self-test case's catalog rows).
public final class InMemoryVectors: SemanticVectorSource {
    public let semanticModel: String
    public let dSem: Int
    private var rows: [UInt64: [Float]]
    public init(semanticModel: String, dSem: Int, rows: [UInt64: [Float]]) {
        self.semanticModel = semanticModel
        self.dSem = dSem
        self.rows = rows
    }
    public func vector(for itemID: UInt64, into out: UnsafeMutableBufferPointer<Float>) throws -> Bool {
        guard let v = rows[itemID] else { return false }
        for k in 0..<dSem { out[k] = v[k] }
        return true
    }
}

/// One user's model inputs (docs/checkpoint.md): n sequence tokens (the latest n_max events) and f.
public struct TokenizedUser: Sendable {
    public var userID: UInt64
    /// Newest ts of the whole history; nil for a user with no events.
    public var asOf: Int64?
    public var n: Int
    public var itemBucket: [Int32]
    public var typeIndex: [Int32]
    public var surfaceIndex: [Int32]
    public var timeBucket: [Int32]
    /// [n, d_sem]; rows of items missing from the catalog are unused (see `semMissing`).
    public var sem: [Float]
    public var semMissing: [Bool]
    /// [n, 2]: log1p(dwell_ms), log1p(value).
    public var meta: [Float]
    /// [d_f].
    public var f: [Float]
}

/// An input a tokenizer refuses, naming the user and the field.
public struct TokenizeError: Error, CustomStringConvertible, Sendable {
    public let userID: UInt64
    public let message: String
    public var description: String { "user \(userID): \(message)" }
}

/// Raw history + features + catalog → model inputs, exactly as docs/checkpoint.md defines them.
/// Type and surface ids of the history store's dictionary are mapped to the model's vocabularies
/// once per dictionary entry.
public final class Tokenizer {
    public let config: ModelConfig
    private let vectors: SemanticVectorSource
    private let typeBytes: (UInt32) throws -> [UInt8]
    private let surfaceBytes: (UInt32) throws -> [UInt8]
    private var typeIndexByID: [Int32] = []
    private var surfaceIndexByID: [Int32] = []

    /// `typeBytes` and `surfaceBytes` resolve the events' type and surface ids to their bytes.
    public init(config: ModelConfig, vectors: SemanticVectorSource,
                typeBytes: @escaping (UInt32) throws -> [UInt8], surfaceBytes: @escaping (UInt32) throws -> [UInt8]) {
        self.config = config
        self.vectors = vectors
        self.typeBytes = typeBytes
        self.surfaceBytes = surfaceBytes
    }

    /// bucket(id) = fmix(id) mod buckets (a power of two).
    @inline(__always)
    public static func bucket(_ itemID: UInt64, buckets: Int) -> Int { Int(fmix64(itemID) & UInt64(buckets - 1)) }

    /// min(bitLength(max(asOf − ts, 0)), nTime − 1).
    @inline(__always)
    public static func timeBucket(asOf: Int64, ts: Int64, nTime: Int) -> Int {
        let age = asOf > ts ? UInt64(bitPattern: asOf &- ts) : 0
        return min(64 - age.leadingZeroBitCount, nTime - 1)
    }

    private func index(_ id: UInt32, _ table: inout [Int32], _ vocab: [[UInt8]], _ bytesOf: (UInt32) throws -> [UInt8]) rethrows -> Int32 {
        let i = Int(id)
        if i >= table.count { table += Array(repeating: -1, count: i + 1 - table.count) }
        if table[i] < 0 {
            let bytes = try bytesOf(id)
            table[i] = Int32(vocab.firstIndex(of: bytes).map { $0 + 1 } ?? 0)
        }
        return table[i]
    }

    /// Tokenizes a user whose events are in history order (all retained events; the latest
    /// n_max become tokens, as_of is the newest ts).
    public func tokenize(userID: UInt64, events: [StoredEvent], features: UserFeatures?) throws -> TokenizedUser {
        let c = config
        let asOf = events.last?.ts
        let tail = events.suffix(c.nMax)
        let n = tail.count
        var u = TokenizedUser(userID: userID, asOf: asOf, n: n, itemBucket: [], typeIndex: [], surfaceIndex: [], timeBucket: [],
                              sem: Array(repeating: 0, count: n * c.dSem), semMissing: Array(repeating: false, count: n),
                              meta: [], f: try userVector(userID: userID, features: features, asOf: asOf))
        u.itemBucket.reserveCapacity(n)
        u.typeIndex.reserveCapacity(n)
        u.surfaceIndex.reserveCapacity(n)
        u.timeBucket.reserveCapacity(n)
        u.meta.reserveCapacity(2 * n)
        var t = 0
        try u.sem.withUnsafeMutableBufferPointer { sem in
            for e in tail {
                u.itemBucket.append(Int32(Tokenizer.bucket(e.itemID, buckets: c.itemBuckets)))
                u.typeIndex.append(try index(e.type, &typeIndexByID, c.types, typeBytes))
                u.surfaceIndex.append(try index(e.surface, &surfaceIndexByID, c.surfaces, surfaceBytes))
                u.timeBucket.append(Int32(Tokenizer.timeBucket(asOf: asOf!, ts: e.ts, nTime: c.nTime)))
                let row = UnsafeMutableBufferPointer(rebasing: sem[(t * c.dSem)..<((t + 1) * c.dSem)])
                u.semMissing[t] = !(try vectors.vector(for: e.itemID, into: row))
                u.meta.append(Float(log1p(e.dwellMs)))
                u.meta.append(Float(log1p(e.value)))
                t += 1
            }
        }
        return u
    }

    /// f: declared features in order (categorical one-hot with slot 0 for absent, unknown or
    /// non-string values; dense scalar, 0 when absent or not a number), then the 24-slot hour and
    /// 7-slot weekday one-hots of as_of (zero when there is no as_of).
    public func userVector(userID: UInt64, features: UserFeatures?, asOf: Int64?) throws(TokenizeError) -> [Float] {
        let c = config
        var f = [Float](repeating: 0, count: c.dF)
        var at = 0
        for spec in c.features {
            let value = features?.fields.first { $0.name == spec.name }?.value
            switch spec.kind {
            case .categorical:
                var slot = 0
                if case let .categorical(b)? = value, let i = spec.vocab.firstIndex(of: b) { slot = i + 1 }
                f[at + slot] = 1
            case .dense:
                if case let .dense(x)? = value {
                    guard x.isFinite else {
                        throw TokenizeError(userID: userID, message: "feature \(String(decoding: spec.name, as: UTF8.self)) is not finite")
                    }
                    f[at] = Float(x)
                }
            }
            at += spec.width
        }
        if let asOf {
            let hour = floorMod(floorDiv(asOf, 3600), 24)
            let dow = floorMod(floorDiv(asOf, 86400) + 3, 7)
            f[at + Int(hour)] = 1
            f[at + 24 + Int(dow)] = 1
        }
        return f
    }
}

@inline(__always) func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
@inline(__always) func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

extension Tokenizer {
    /// A tokenizer over a history store's dictionary and an item catalog, after checking that the
    /// catalog's semantic model and width are the checkpoint's.
    public convenience init(config: ModelConfig, store: HistoryStore, catalog: SemanticVectorSource) throws(CheckpointError) {
        try Tokenizer.checkSemanticModel(config, catalog)
        self.init(config: config, vectors: catalog, typeBytes: { try store.dictionaryBytes($0) }, surfaceBytes: { try store.dictionaryBytes($0) })
    }

    /// The catalog must hold vectors of the semantic model (and width) the checkpoint was trained with.
    public static func checkSemanticModel(_ config: ModelConfig, _ catalog: SemanticVectorSource) throws(CheckpointError) {
        guard catalog.semanticModel == config.semanticModel, catalog.dSem == config.dSem else {
            throw CheckpointError(file: "config.json",
                                  "the checkpoint was trained with semantic model \(config.semanticModel) (d_sem \(config.dSem)); the catalog holds \(catalog.semanticModel) (d_sem \(catalog.dSem))")
        }
    }

    /// Tokenizes a user straight from the store: history and features as they are now, with the
    /// history_version read in the same transaction as the history (0 for a features-only user).
    public func tokenize(userID: UInt64, store: HistoryStore) throws -> (tokens: TokenizedUser, historyVersion: Int64) {
        let h = try store.history(userID)
        let tokens = try tokenize(userID: userID, events: h?.events ?? [], features: try store.features(userID))
        return (tokens, h?.state.historyVersion ?? 0)
    }
}
