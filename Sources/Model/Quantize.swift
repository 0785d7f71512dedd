/// int8 codes and per-interest scales of one embedding (docs/checkpoint.md).
public struct QuantizedEmbedding: Sendable, Equatable {
    /// K·D codes, interest-major.
    public var codes: [Int8]
    /// K scales.
    public var scales: [Float]

    /// code × scale, K·D values.
    public func dequantized(interestDim: Int) -> [Float] {
        codes.enumerated().map { Float($0.element) * scales[$0.offset / interestDim] }
    }
}

/// A non-finite output value: the user's encoding failed.
public struct NonFiniteEmbedding: Error, CustomStringConvertible, Sendable {
    public let index: Int
    public let value: Float
    public var description: String { "embedding value \(index) is \(value)" }
}

/// Per interest vector: scale = max|z|/127, code = clamp(roundHalfEven(z/scale), −127, 127); an
/// all-zero vector, or one whose scale underflows to 0, gets scale 0 and codes 0.
public func quantize(_ z: [Float], interests: Int, interestDim: Int) throws(NonFiniteEmbedding) -> QuantizedEmbedding {
    precondition(z.count == interests * interestDim)
    if let i = z.firstIndex(where: { !$0.isFinite }) { throw NonFiniteEmbedding(index: i, value: z[i]) }
    var codes = [Int8](repeating: 0, count: z.count)
    var scales = [Float](repeating: 0, count: interests)
    for k in 0..<interests {
        let row = z[(k * interestDim)..<((k + 1) * interestDim)]
        let maxAbs = row.reduce(Float(0)) { max($0, abs($1)) }
        let scale = maxAbs / 127
        scales[k] = scale
        if scale == 0 { continue }
        for j in row.indices {
            let q = (z[j] / scale).rounded(.toNearestOrEven)
            codes[j] = Int8(min(127, max(-127, q)))
        }
    }
    return QuantizedEmbedding(codes: codes, scales: scales)
}
