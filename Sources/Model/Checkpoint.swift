import Support

/// The checkpoint's tensor table: every tensor name with its shape, in a fixed order
/// (docs/checkpoint.md; the PyTorch reference's `tensor_shapes` is the same table).
public func tensorTable(_ c: ModelConfig) -> [(name: String, shape: [Int])] {
    var t: [(String, [Int])] = [
        ("embed.item", [c.itemBuckets, c.d]),
        ("embed.event_type", [1 + c.types.count, c.d]),
        ("embed.surface", [1 + c.surfaces.count, c.d]),
        ("embed.time", [c.nTime, c.d]),
        ("embed.sem", [c.d, c.dSem]),
        ("embed.sem_missing", [c.dSem]),
        ("embed.meta", [c.d, 2]),
        ("query.pos", [c.queryTokens, c.d]),
        ("query.user", [c.d, c.dF]),
    ]
    for l in 0..<c.layers {
        let p = "layers.\(l)."
        t += [
            (p + "attn_norm", [c.d]),
            (p + "attn.w_dq", [c.rQ, c.d]),
            (p + "attn.q_norm", [c.rQ]),
            (p + "attn.w_uq", [c.hd, c.rQ]),
            (p + "attn.w_dkv", [c.rKV, c.d]),
            (p + "attn.kv_norm", [c.rKV]),
            (p + "attn.w_uk", [c.hd, c.rKV]),
            (p + "attn.w_uv", [c.hd, c.rKV]),
            (p + "attn.w_o", [c.d, c.hd]),
            (p + "mlp_norm", [c.d]),
            (p + "mlp.w_gate", [c.ffn, c.d]),
            (p + "mlp.w_up", [c.ffn, c.d]),
            (p + "mlp.w_down", [c.d, c.ffn]),
        ]
    }
    t += [
        ("final_norm", [c.d]),
        ("head.a1", [c.loraRank, c.queryTokens * c.d]),
        ("head.b1", [c.loraHidden, c.loraRank]),
        ("head.a2", [c.loraRank, c.loraHidden]),
        ("head.b2", [c.outputWidth, c.loraRank]),
    ]
    return t
}

/// All weights widened to f32 in one allocation, addressed by tensor name.
public final class Weights: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<Float>
    private let offsets: [String: Int]

    init(storage: UnsafeMutableBufferPointer<Float>, offsets: [String: Int]) {
        self.storage = storage
        self.offsets = offsets
    }
    deinit { storage.deallocate() }

    /// The tensor's first element (row-major).
    public subscript(_ name: String) -> UnsafePointer<Float> {
        UnsafePointer(storage.baseAddress! + offsets[name]!)
    }
    /// Bytes held.
    public var byteCount: Int { storage.count * 4 }
}

/// A loaded, validated checkpoint directory: config, weights and identity.
public final class Checkpoint: @unchecked Sendable {
    public let directory: String
    public let config: ModelConfig
    public let weights: Weights
    /// sha256 of `config.json` followed by `model.safetensors` (hex).
    public let identity: String
    /// Storage dtypes found, for reports (e.g. ["BF16"]).
    public let dtypes: [String]

    init(directory: String, config: ModelConfig, weights: Weights, identity: String, dtypes: [String]) {
        self.directory = directory
        self.config = config
        self.weights = weights
        self.identity = identity
        self.dtypes = dtypes
    }

    /// Loads `config.json` and `model.safetensors`, checking every tensor's name, shape and dtype
    /// against the config before reading any weight, then widening each to f32 (non-finite is an
    /// error). Does not run the self-test: see `SelfTest`.
    public init(directory: String) throws(CheckpointError) {
        self.directory = directory
        let configPath = directory + "/config.json", weightsPath = directory + "/model.safetensors"
        let configBytes: [UInt8]
        do { configBytes = try Files.readAll(configPath) } catch { throw CheckpointError(error) }
        let config = try ModelConfig.parse(configBytes, file: configPath)
        let file = try SafetensorsFile(path: weightsPath)
        let table = tensorTable(config)
        var total = 0
        var offsets: [String: Int] = [:]
        for (name, shape) in table {
            guard let e = file.entries[name] else { throw CheckpointError(file: weightsPath, "tensor \(name) is missing (expected shape \(shape))") }
            guard e.shape == shape else { throw CheckpointError(file: weightsPath, "tensor \(name): expected shape \(shape), found \(e.shape)") }
            offsets[name] = total
            total += e.elementCount
        }
        let known = Set(table.map(\.name))
        if let extra = file.names.first(where: { !known.contains($0) }) {
            throw CheckpointError(file: weightsPath, "tensor \(extra) is not part of this config's tensor table")
        }
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(total, 1))
        do {
            for (name, _) in table {
                let e = file.entries[name]!
                try file.read(e, into: UnsafeMutableBufferPointer(rebasing: storage[offsets[name]!..<(offsets[name]! + e.elementCount)]))
            }
        } catch {
            storage.deallocate()
            throw error
        }
        self.config = config
        weights = Weights(storage: storage, offsets: offsets)
        dtypes = Array(Set(file.entries.values.map(\.dtype.rawValue))).sorted()
        let h = SHA256Hasher()
        h.update(configBytes)
        do {
            let mapped = try MappedFile(path: weightsPath)
            h.update(mapped.bytes)
        } catch { throw CheckpointError(error) }
        identity = h.finalize().hex
    }
}
