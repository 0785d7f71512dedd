import Support
import Testing

/// One JSON test input: raw bytes plus a readable label for test output.
struct JSONCase: Sendable, CustomTestStringConvertible {
    let label: String
    let bytes: [UInt8]

    init(_ text: String) {
        label = text
        bytes = Array(text.utf8)
    }

    init(_ label: String, bytes: [UInt8]) {
        self.label = label
        self.bytes = bytes
    }

    /// A JSON string literal whose content is `prefix`, the raw bytes, then `suffix`.
    static func rawString(_ label: String, _ raw: [UInt8], prefix: String = "", suffix: String = "") -> JSONCase {
        JSONCase(label, bytes: [0x22] + Array(prefix.utf8) + raw + Array(suffix.utf8) + [0x22])
    }

    var testDescription: String { label }
}

/// What the low-level scanner made of a whole document (`begin`, `skipValue`, `expectEnd`).
enum ScanOutcome: Equatable, CustomStringConvertible {
    case ok
    case soft(JSONSoftFault.Kind, offset: Int)
    case syntax(offset: Int)

    var description: String {
        switch self {
        case .ok: return "ok"
        case let .soft(k, o): return "soft(\(k), offset: \(o))"
        case let .syntax(o): return "syntax(offset: \(o))"
        }
    }

    var isSyntax: Bool { if case .syntax = self { return true } else { return false } }
    var softKind: JSONSoftFault.Kind? { if case let .soft(k, _) = self { return k } else { return nil } }
}

/// Validates `bytes` as one JSON text through the scanner's skip path.
func scanDocument(_ bytes: [UInt8], scanner: JSONScanner = JSONScanner()) -> ScanOutcome {
    // Copy into an exactly sized allocation so reads past the end would be caught by sanitizers
    // and cannot accidentally see a terminating byte.
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
    defer { p.deallocate() }
    p.initialize(from: bytes, count: bytes.count)
    scanner.begin(p, count: bytes.count)
    do {
        try scanner.skipValue()
        try scanner.expectEnd()
    } catch {
        return .syntax(offset: error.offset)
    }
    if let f = scanner.softFault { return .soft(f.kind, offset: f.offset) }
    return .ok
}

/// The kind of `JSONParseError`, ignoring offsets and keys.
enum ParseErrorKind: Equatable {
    case syntax, invalidUTF8, loneSurrogate, duplicateKey, tooDeep
}

extension JSONParseError {
    var kind: ParseErrorKind {
        switch self {
        case .syntax: return .syntax
        case .invalidUTF8: return .invalidUTF8
        case .loneSurrogate: return .loneSurrogate
        case .duplicateKey: return .duplicateKey
        case .tooDeep: return .tooDeep
        }
    }
}

/// Parses with `JSONValue.parse`, returning the value or the error.
func parseResult(_ bytes: [UInt8]) -> Result<JSONValue, JSONParseError> {
    do {
        return .success(try JSONValue.parse(bytes))
    } catch {
        return .failure(error)
    }
}

func parseErrorKind(_ bytes: [UInt8]) -> ParseErrorKind? {
    if case let .failure(e) = parseResult(bytes) { return e.kind }
    return nil
}

/// Runs `body` with a scanner positioned at the start of `text` (kept alive for the call).
func withScanner<R>(_ text: String, _ body: (JSONScanner) throws -> R) rethrows -> R {
    try withScanner(Array(text.utf8), body)
}

func withScanner<R>(_ bytes: [UInt8], _ body: (JSONScanner) throws -> R) rethrows -> R {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
    defer { p.deallocate() }
    p.initialize(from: bytes, count: bytes.count)
    let s = JSONScanner()
    s.begin(p, count: bytes.count)
    return try body(s)
}

/// Scans `text` as a single number token and returns its integer value (nil on a syntax error
/// or if the token does not cover the whole text).
func integerValue(_ text: String) -> JSONIntegerValue? {
    withScanner(text) { s in
        guard let t = try? s.scanNumber(), t.end == text.utf8.count else { return nil }
        return s.integerValue(t)
    }
}

/// Scans `text` as a single number token and returns its double value.
func doubleValue(_ text: String) -> Double? {
    withScanner(text) { s in
        guard let t = try? s.scanNumber(), t.end == text.utf8.count else { return nil }
        return s.doubleValue(t)
    }
}

/// Deterministic splitmix64 generator for reproducible random inputs.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func hexBytes(_ bytes: [UInt8]) -> String {
    bytes.map { b in
        let s = String(b, radix: 16, uppercase: true)
        return s.count == 1 ? "0" + s : s
    }.joined(separator: " ")
}
