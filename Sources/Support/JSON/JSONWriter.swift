/// Appends JSON text to a byte buffer: for quarantine records, reports and generated data.
public struct JSONWriter {
    public var bytes: [UInt8] = []
    public init() {}

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` as a JSON string literal, escaping quotes, backslashes and control characters.
    public mutating func string(_ s: some Sequence<UInt8>) {
        bytes.append(0x22)
        for b in s {
            switch b {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
            case 0x0D: bytes.append(0x5C); bytes.append(0x72)
            case 0x09: bytes.append(0x5C); bytes.append(0x74)
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(JSONWriter.hex[Int(b >> 4)])
                bytes.append(JSONWriter.hex[Int(b & 15)])
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }

    public mutating func string(_ s: String) { string(s.utf8) }

    /// Appends raw text (a number or literal already spelled as JSON).
    public mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// Appends `"key":`, with a comma first unless `first`.
    public mutating func key(_ k: String, first: Bool = false) {
        if !first { bytes.append(0x2C) }
        string(k)
        bytes.append(0x3A)
    }

    /// Appends a double the way JSON readers round-trip it (shortest representation; never NaN/inf).
    public mutating func number(_ d: Double) {
        precondition(d.isFinite, "JSON has no non-finite numbers")
        if d == 0 && d.sign == .minus {
            raw("-0.0")
        } else if d == d.rounded(), abs(d) < 1e15 {
            raw(String(Int64(d)))
        } else {
            raw("\(d)")
        }
    }
}
