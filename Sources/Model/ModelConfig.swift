import Support

/// Why a checkpoint cannot be used: the file and, where there is one, the tensor or field concerned.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    /// A file that could not be read: named once, with what failed.
    public init(_ e: FileError) { self.init(file: e.path, e.reason) }
    public var description: String { "\(file): \(message)" }
}

extension CheckpointError: PathError {
    public var concernedPath: String? { file }
}

/// One user feature the model reads: a categorical field with its vocabulary, or a dense number.
public struct FeatureSpec: Sendable, Equatable {
    public enum Kind: String, Sendable { case categorical, dense }
    public var name: [UInt8]
    public var kind: Kind
    /// Categorical values in slot order (slot 0 is `unknown`, so value i is slot i + 1).
    public var vocab: [[UInt8]]
    /// Slots this feature takes in the user vector f.
    public var width: Int { kind == .categorical ? 1 + vocab.count : 1 }
}

/// The checkpoint's `config.json`: sizes of docs/checkpoint.md, vocabularies, features, identity.
public struct ModelConfig: Sendable, Equatable {
    public static let format = "llatte-checkpoint-v1"
    public var modelVersion: String
    public var semanticModel: String
    public var d, layers, heads, dHead, rQ, rKV, ffn: Int
    public var queryTokens, interests, interestDim, dSem: Int
    public var itemBuckets, nTime, loraRank, loraHidden, nMax: Int
    public var types: [[UInt8]]
    public var surfaces: [[UInt8]]
    public var features: [FeatureSpec]

    /// Width of f: the features in order, then 24 hour and 7 weekday slots.
    public var dF: Int { features.reduce(0) { $0 + $1.width } + 24 + 7 }
    /// Width of the attention heads together.
    public var hd: Int { heads * dHead }
    /// Length of z: K interests × D.
    public var outputWidth: Int { interests * interestDim }

    /// The keys `config.json` may hold (docs/checkpoint.md).
    static let known: Set<String> = ["format", "model_version", "semantic_model", "d", "layers", "heads", "d_head", "r_q", "r_kv", "ffn",
                                     "query_tokens", "interests", "interest_dim", "d_sem", "item_buckets", "n_time", "lora_rank",
                                     "lora_hidden", "n_max", "types", "surfaces", "features"]

    /// Parses and checks `config.json`; every error names the field.
    public static func parse(_ bytes: [UInt8], file: String) throws(CheckpointError) -> ModelConfig {
        let v: JSONValue
        do { v = try JSONValue.parse(bytes) } catch { throw CheckpointError(file: file, "not valid JSON: \(error)") }
        guard case .object = v else { throw CheckpointError(file: file, "not a JSON object") }
        /// `, found <value>` for a field that is present (its JSON text), else nothing.
        func found(_ k: String) -> String { v[k].map { ", found \($0)" } ?? "" }
        func string(_ k: String) throws(CheckpointError) -> String {
            guard let s = v[k]?.stringValue, !s.isEmpty else { throw CheckpointError(file: file, "field \(k): a non-empty string is required\(found(k))") }
            return s
        }
        func int(_ k: String, _ range: ClosedRange<Int>) throws(CheckpointError) -> Int {
            // Sizes are written as integers: `16384.0` or `1.6384e4` is a float that happens to be
            // integral, a sign the file was not written by an exporter that knows the format.
            if let t = v[k]?.numberValue?.text, t.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
                throw CheckpointError(file: file, "field \(k): must be an integer, written without a fraction or exponent (found \(String(decoding: t, as: UTF8.self)))")
            }
            guard let n = v[k]?.numberValue?.int64, range.contains(Int(n)) else {
                throw CheckpointError(file: file, "field \(k): an integer in \(range.lowerBound)...\(range.upperBound) is required\(found(k))")
            }
            return Int(n)
        }
        func strings(_ k: String, _ val: JSONValue?) throws(CheckpointError) -> [[UInt8]] {
            guard let arr = val?.arrayValue else { throw CheckpointError(file: file, "field \(k): an array of strings is required") }
            var out: [[UInt8]] = []
            for item in arr {
                guard case let .string(b) = item else { throw CheckpointError(file: file, "field \(k): an array of strings is required") }
                if out.contains(b) { throw CheckpointError(file: file, "field \(k): \"\(String(decoding: b, as: UTF8.self))\" appears twice") }
                out.append(b)
            }
            return out
        }
        // An unknown key is an error naming it: a misspelt size must not fall back silently.
        if case let .object(members) = v {
            for m in members where !known.contains(String(decoding: m.key, as: UTF8.self)) {
                throw CheckpointError(file: file, "unknown key \(String(decoding: m.key, as: UTF8.self)) (known: \(known.sorted().joined(separator: ", ")))")
            }
        }
        guard v["format"]?.stringValue == format else {
            throw CheckpointError(file: file, "field format: \"\(format)\" expected, found \(v["format"].map { "\($0)" } ?? "nothing")")
        }
        let big = 1 << 20
        var c = ModelConfig(
            modelVersion: try string("model_version"), semanticModel: try string("semantic_model"),
            d: try int("d", 1...65536), layers: try int("layers", 1...1024), heads: try int("heads", 1...4096),
            dHead: try int("d_head", 1...65536), rQ: try int("r_q", 1...65536), rKV: try int("r_kv", 1...65536),
            ffn: try int("ffn", 1...big), queryTokens: try int("query_tokens", 1...4096), interests: try int("interests", 1...4096),
            interestDim: try int("interest_dim", 1...65536), dSem: try int("d_sem", 1...65536),
            itemBuckets: try int("item_buckets", 1...(1 << 30)), nTime: try int("n_time", 1...64),
            loraRank: try int("lora_rank", 1...65536), loraHidden: try int("lora_hidden", 1...big), nMax: try int("n_max", 1...big),
            types: try strings("types", v["types"]), surfaces: try strings("surfaces", v["surfaces"]), features: [])
        guard c.itemBuckets.nonzeroBitCount == 1 else { throw CheckpointError(file: file, "field item_buckets: a power of two is required") }
        guard let feats = v["features"]?.arrayValue else { throw CheckpointError(file: file, "field features: an array is required") }
        for (i, f) in feats.enumerated() {
            guard case let .string(name)? = f["name"], !name.isEmpty else { throw CheckpointError(file: file, "features[\(i)].name: a non-empty string is required") }
            guard let kind = f["kind"]?.stringValue.flatMap(FeatureSpec.Kind.init(rawValue:)) else {
                throw CheckpointError(file: file, "features[\(i)].kind: \"categorical\" or \"dense\" is required")
            }
            if c.features.contains(where: { $0.name == name }) { throw CheckpointError(file: file, "features[\(i)].name: declared twice") }
            let vocab = kind == .categorical ? try strings("features[\(i)].vocab", f["vocab"]) : []
            c.features.append(FeatureSpec(name: name, kind: kind, vocab: vocab))
        }
        return c
    }
}
