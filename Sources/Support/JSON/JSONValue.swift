/// A parsed JSON document for small inputs (configs, feature and catalog records).
///
/// Strings keep their raw UTF-8 bytes (identities compare as bytes, never with `String ==`);
/// numbers keep their text so integers convert exactly.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string([UInt8])
    case array([JSONValue])
    /// Members in document order (keys are unique: duplicates are rejected).
    case object([(key: [UInt8], value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The member named `key`, if this is an object that has it.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        let k = Array(key.utf8)
        return members.first { $0.key == k }?.value
    }

    /// The string's text, if this is a string.
    public var stringValue: String? {
        if case let .string(b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    public var numberValue: JSONNumber? {
        if case let .number(n) = self { return n }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case let .array(a) = self { return a }
        return nil
    }

    /// A short name of the value's kind, for error messages.
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// A JSON number as written, convertible exactly.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    public let text: [UInt8]
    public init(text: [UInt8]) { self.text = text }
    public var description: String { String(decoding: text, as: UTF8.self) }

    /// The exact integer value, if the number is integral and fits.
    public var integer: JSONIntegerValue { withToken { s, t in s.integerValue(t) } ?? .notIntegral }

    /// As a signed 64-bit integer, if it is integral and in range.
    public var int64: Int64? {
        guard case let .value(neg, mag) = integer else { return nil }
        if neg { return mag <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- mag) : nil }
        return mag <= UInt64(Int64.max) ? Int64(mag) : nil
    }

    /// As an unsigned 64-bit integer, if it is integral, non-negative and in range.
    public var uint64: UInt64? {
        guard case let .value(neg, mag) = integer, !neg || mag == 0 else { return nil }
        return mag
    }

    /// The nearest double (±infinity on overflow).
    public var double: Double { withToken { s, t in s.doubleValue(t) } ?? .nan }

    /// `body` with the text scanned as a number token; nil if it is not one.
    private func withToken<R>(_ body: (JSONScanner, JSONNumberToken) -> R) -> R? {
        text.withUnsafeBufferPointer { p in
            let s = JSONScanner()
            s.begin(p.baseAddress!, count: p.count)
            return (try? s.scanNumber()).map { body(s, $0) }
        }
    }
}

/// Why a document could not be parsed into a `JSONValue`.
public enum JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    case syntax(JSONSyntaxError)
    case invalidUTF8(offset: Int)
    case loneSurrogate(offset: Int)
    case duplicateKey(String, offset: Int)
    case tooDeep(offset: Int)

    public var description: String {
        switch self {
        case let .syntax(e): return "not JSON: \(e)"
        case let .invalidUTF8(o): return "invalid UTF-8 at byte \(o)"
        case let .loneSurrogate(o): return "lone surrogate escape at byte \(o)"
        case let .duplicateKey(k, o): return "duplicate key \"\(k)\" at byte \(o)"
        case let .tooDeep(o): return "nesting deeper than \(JSONValue.maxDepth) at byte \(o)"
        }
    }
}

extension JSONValue {
    /// Deepest nesting `parse` accepts (it recurses).
    public static let maxDepth = 256

    /// Parses one complete JSON text.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (p) throws(JSONParseError) -> JSONValue in
            try parse(p)
        }
    }

    /// Parses one complete JSON text from a buffer.
    public static func parse(_ p: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        guard p.count > 0 else { throw .syntax(JSONSyntaxError(offset: 0, message: "empty document")) }
        let s = JSONScanner()
        s.begin(p.baseAddress!, count: p.count)
        let v: JSONValue
        do {
            v = try parseValue(s, depth: 0)
            try s.expectEnd()
        } catch let e as JSONParseError {
            throw e
        } catch let e as JSONSyntaxError {
            throw .syntax(e)
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
        if let f = s.softFault {
            switch f.kind {
            case .invalidUTF8: throw .invalidUTF8(offset: f.offset)
            case .loneSurrogate: throw .loneSurrogate(offset: f.offset)
            case .duplicateKey: throw .duplicateKey(f.key ?? "", offset: f.offset)
            }
        }
        return v
    }

    private static func parseValue(_ s: JSONScanner, depth: Int) throws -> JSONValue {
        s.skipWhitespace()
        guard let c = s.peek() else { throw s.fail("expected a value") }
        if c == 0x7B || c == 0x5B, depth >= maxDepth { throw JSONParseError.tooDeep(offset: s.pos) }
        switch c {
        case 0x7B:
            s.pos += 1
            s.beginObjectKeys()
            defer { s.endObjectKeys() }
            var members: [(key: [UInt8], value: JSONValue)] = []
            s.skipWhitespace()
            if s.peek() == 0x7D { s.pos += 1; return .object(members) }
            while true {
                let key = Array(s.bytes(try s.scanMemberKey()))
                let v = try parseValue(s, depth: depth + 1)
                members.append((key, v))
                s.skipWhitespace()
                if s.peek() == 0x2C { s.pos += 1; continue }
                if s.peek() == 0x7D { s.pos += 1; return .object(members) }
                throw s.fail("expected ',' or '}' in object")
            }
        case 0x5B:
            s.pos += 1
            var items: [JSONValue] = []
            s.skipWhitespace()
            if s.peek() == 0x5D { s.pos += 1; return .array(items) }
            while true {
                items.append(try parseValue(s, depth: depth + 1))
                s.skipWhitespace()
                if s.peek() == 0x2C { s.pos += 1; continue }
                if s.peek() == 0x5D { s.pos += 1; return .array(items) }
                throw s.fail("expected ',' or ']' in array")
            }
        case 0x22:
            let t = try s.scanString()
            return .string(Array(s.bytes(t)))
        case 0x2D, 0x30...0x39:
            let t = try s.scanNumber()
            return .number(JSONNumber(text: Array(UnsafeBufferPointer(start: s.base + t.start, count: t.end - t.start))))
        case 0x74: try s.literal("true"); return .bool(true)
        case 0x66: try s.literal("false"); return .bool(false)
        case 0x6E: try s.literal("null"); return .null
        default: throw s.fail("expected a value")
        }
    }
}

extension JSONValue: CustomStringConvertible {
    /// Characters of a value shown in a message; a longer one is cut and ends with `…`.
    public static let descriptionLimit = 60

    /// The value as compact JSON text, for messages: `"llx"`, `-16384`, `[1,null]`; cut after
    /// `descriptionLimit` characters (ending `…`), since a message quotes a value, not a document.
    public var description: String {
        var w = JSONWriter()
        write(to: &w, budget: JSONValue.descriptionLimit * 4)
        let text = String(decoding: w.bytes, as: UTF8.self)
        guard text.count > JSONValue.descriptionLimit else { return text }
        return String(text.prefix(JSONValue.descriptionLimit - 1)) + "…"
    }

    /// Appends the value's JSON text, stopping once `w` holds more than `budget` bytes.
    private func write(to w: inout JSONWriter, budget: Int) {
        guard w.bytes.count <= budget else { return }
        switch self {
        case .null: w.raw("null")
        case let .bool(b): w.raw(b ? "true" : "false")
        case let .number(n): w.bytes.append(contentsOf: n.text)
        case let .string(s): w.string(s.prefix(budget))
        case let .array(items):
            w.raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { w.raw(",") }
                item.write(to: &w, budget: budget)
                if w.bytes.count > budget { return }
            }
            w.raw("]")
        case let .object(members):
            w.raw("{")
            for (i, m) in members.enumerated() {
                if i > 0 { w.raw(",") }
                w.string(m.key.prefix(budget))
                w.raw(":")
                m.value.write(to: &w, budget: budget)
                if w.bytes.count > budget { return }
            }
            w.raw("}")
        }
    }
}
