import Support

/// A tensor's storage type in a safetensors file; each is widened exactly to f32.
public enum TensorDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"
    public var size: Int { self == .f32 ? 4 : 2 }
}

/// One entry of a safetensors header, checked against the file.
public struct TensorEntry: Sendable, Equatable {
    public var name: String
    public var dtype: TensorDType
    public var shape: [Int]
    /// Byte range within the data section.
    public var begin: Int, end: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file (8-byte little-endian header length, JSON header, raw
/// little-endian data), validated so a hostile or truncated file is an error, never a crash or a
/// huge allocation: the header length is bounded by the file, every range lies in the data
/// section, ranges do not overlap, and each range's length is exactly shape × dtype size, computed
/// without overflow.
public final class SafetensorsFile {
    /// A header larger than this is refused before it is parsed (real headers are kilobytes).
    public static let maxHeaderBytes = 64 << 20
    public let path: String
    public let entries: [String: TensorEntry]
    /// Tensor names in data order.
    public let names: [String]
    private let file: MappedFile
    private let dataStart: Int

    public init(path: String) throws(CheckpointError) {
        self.path = path
        do { file = try MappedFile(path: path) } catch { throw CheckpointError(error) }
        let bytes = file.bytes
        guard bytes.count >= 8 else { throw CheckpointError(file: path, "truncated: \(bytes.count) bytes, no header length") }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard headerLength <= UInt64(min(bytes.count - 8, SafetensorsFile.maxHeaderBytes)) else {
            throw CheckpointError(file: path, "header length \(headerLength) exceeds the file (\(bytes.count) bytes) or the \(SafetensorsFile.maxHeaderBytes)-byte limit")
        }
        dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart
        let header: JSONValue
        do {
            header = try JSONValue.parse(UnsafeBufferPointer(start: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + 8, count: Int(headerLength)))
        } catch {
            throw CheckpointError(file: path, "header is not valid JSON: \(error)")
        }
        guard case let .object(members) = header else { throw CheckpointError(file: path, "header is not a JSON object") }
        var entries: [String: TensorEntry] = [:]
        for (key, value) in members {
            let name = String(decoding: key, as: UTF8.self)
            if name == "__metadata__" { continue }
            func bad(_ why: String) -> CheckpointError { CheckpointError(file: path, "tensor \(name): \(why)") }
            guard let dt = value["dtype"]?.stringValue else { throw bad("dtype missing") }
            guard let dtype = TensorDType(rawValue: dt) else { throw bad("dtype \(dt) is not supported (F32, F16 or BF16)") }
            guard let dims = value["shape"]?.arrayValue else { throw bad("shape missing") }
            var shape: [Int] = []
            var count = 1
            for d in dims {
                guard let n = d.numberValue?.int64, n >= 0 else { throw bad("shape \(JSONValue.array(dims)) is not a list of non-negative integers") }
                let (c, o) = count.multipliedReportingOverflow(by: Int(n))
                guard !o, c <= dataSize else { throw bad("shape \(JSONValue.array(dims)) has more elements than the file holds") }
                count = c
                shape.append(Int(n))
            }
            guard let offs = value["data_offsets"]?.arrayValue, offs.count == 2,
                  let b = offs[0].numberValue?.int64, let e = offs[1].numberValue?.int64 else { throw bad("data_offsets must be two integers") }
            guard b >= 0, b <= e else { throw bad("data_offsets [\(b), \(e)] are reversed or negative") }
            guard e <= Int64(dataSize) else { throw bad("data_offsets end \(e) is past the end of the data (\(dataSize) bytes)") }
            guard Int(e - b) == count * dtype.size else {
                throw bad("data_offsets [\(b), \(e)] hold \(e - b) bytes, shape \(shape) of \(dt) needs \(count * dtype.size)")
            }
            entries[name] = TensorEntry(name: name, dtype: dtype, shape: shape, begin: Int(b), end: Int(e))
        }
        let ordered = entries.values.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for (a, b) in zip(ordered, ordered.dropFirst()) where b.begin < a.end {
            throw CheckpointError(file: path, "tensors \(a.name) and \(b.name) overlap")
        }
        self.entries = entries
        names = ordered.map(\.name)
    }

    /// The tensor widened exactly to f32 into `out` (its element count); throws on a non-finite value.
    public func read(_ entry: TensorEntry, into out: UnsafeMutableBufferPointer<Float>) throws(CheckpointError) {
        precondition(out.count == entry.elementCount)
        let src = file.bytes.baseAddress! + dataStart + entry.begin
        var finite = true
        switch entry.dtype {
        case .f32:
            for i in 0..<out.count {
                let x = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                out[i] = x
                finite = finite && x.isFinite
            }
        case .f16:
            for i in 0..<out.count {
                let x = widenHalf(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                out[i] = x
                finite = finite && x.isFinite
            }
        case .bf16:
            for i in 0..<out.count {
                let x = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                out[i] = x
                finite = finite && x.isFinite
            }
        }
        if !finite {
            let i = (0..<out.count).first { !out[$0].isFinite }!
            throw CheckpointError(file: path, "tensor \(entry.name): element \(i) is \(out[i]) (weights must be finite)")
        }
    }
}

/// IEEE half → single, exactly (every half is a single), without relying on a platform Float16.
@inline(__always)
func widenHalf(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int(h >> 10) & 0x1F
    let frac = UInt32(h & 0x3FF)
    if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (frac << 13)) }
    if exp != 0 { return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (frac << 13)) }
    // Subnormal half: frac · 2^-24, exact in single precision.
    let magnitude = Float(frac) * Float(sign: .plus, exponent: -24, significand: 1)
    return sign != 0 ? -magnitude : magnitude
}
