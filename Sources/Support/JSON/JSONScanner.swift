#if canImport(Glibc)
import Glibc
#endif

/// A syntax error: the bytes are not JSON. Scanning stops at the first one.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset within the scanned text.
    public let offset: Int
    public let message: String
    public var description: String { "\(message) at byte \(offset)" }
}

/// A fault in otherwise well-formed JSON that makes it unacceptable: invalid UTF-8, a lone
/// surrogate escape, or a key repeated in one object. Scanning goes on, so a later syntax error wins.
public struct JSONSoftFault: Sendable, Equatable {
    /// Which fault: bytes that are not UTF-8, a `\\u` surrogate without its pair, a repeated key.
    public enum Kind: Sendable, Equatable { case invalidUTF8, loneSurrogate, duplicateKey }
    public let kind: Kind
    public let offset: Int
    /// The repeated key for `duplicateKey` (lossily decoded, for messages only).
    public let key: String?
}

/// A string token: either a span of the input (no escapes) or a span of the scanner's arena (decoded).
public struct JSONStringToken: Sendable, BitwiseCopyable {
    public let start: Int
    public let end: Int
    public let inArena: Bool
    public var count: Int { end - start }

    public init(start: Int, end: Int, inArena: Bool) {
        self.start = start
        self.end = end
        self.inArena = inArena
    }
}

/// A number token as written, so callers can convert it exactly (integers) or correctly rounded (doubles).
public struct JSONNumberToken: Sendable {
    public let start: Int
    public let end: Int
    public let negative: Bool
    public let intStart: Int
    public let intEnd: Int
    public let fracStart: Int
    public let fracEnd: Int
    /// The written exponent, saturated to ±1e9 so absurd exponents cannot overflow arithmetic.
    public let exponent: Int
}

/// The exact value of a number token read as an integer.
public enum JSONIntegerValue: Sendable, Equatable {
    /// The value is `negative ? -magnitude : magnitude`; zero is never negative.
    case value(negative: Bool, magnitude: UInt64)
    /// The number has a non-zero fractional part.
    case notIntegral
    /// The magnitude exceeds UInt64.max.
    case tooLarge
}

/// A reusable byte-level JSON scanner over one text at a time (one JSON Lines record, or a small file).
///
/// It validates everything RFC 8259 requires (grammar, UTF-8, escapes and surrogate pairs) and
/// notices duplicate keys at any depth, without building values: callers pull the fields they know
/// and `skipValue()` the rest. Decoded strings live in an arena that is reset by `begin`.
public final class JSONScanner {
    public private(set) var base: UnsafePointer<UInt8>
    public private(set) var count: Int = 0
    /// Current byte offset.
    public var pos: Int = 0
    /// The first soft fault met since `begin`.
    public private(set) var softFault: JSONSoftFault?

    /// Decoded strings, back to back (`JSONStringToken.inArena`).
    private var arena = ScratchStack<UInt8>(capacity: 4096)
    // Keys of the objects being scanned, for duplicate detection: spans, and where each open object's keys start.
    // Plain stacks rather than arrays: nested values in logs are skipped on every such line, and
    // array appends in a class (uniqueness checks, bounds checks) cost more than the scan.
    private var keySpans = ScratchStack<JSONStringToken>(capacity: 64)
    private var objectKeyStarts = ScratchStack<Int>(capacity: 16)
    /// Open containers of `skipValue`: 1 for an object, 0 for an array.
    private var containers = ScratchStack<UInt8>(capacity: 16)
    /// The most containers `skipValue` had open at once since `begin`.
    public private(set) var deepestSkipped = 0
    public init() { base = UnsafePointer(arena.storage) }

    deinit {
        arena.deallocate()
        keySpans.deallocate()
        objectKeyStarts.deallocate()
        containers.deallocate()
    }

    /// Starts scanning `text`, which must stay valid until the next `begin`.
    @inline(__always)
    public func begin(_ text: UnsafePointer<UInt8>, count: Int) {
        base = text
        self.count = count
        pos = 0
        arena.count = 0
        softFault = nil
        keySpans.count = 0
        objectKeyStarts.count = 0
        containers.count = 0
        deepestSkipped = 0
    }

    // MARK: - Primitives

    @inlinable
    public func skipWhitespace() {
        while pos < count {
            let c = base[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { return }
        }
    }

    /// The byte at `pos`, or nil at the end.
    @inlinable
    public func peek() -> UInt8? { pos < count ? base[pos] : nil }

    @inlinable
    public func expect(_ c: UInt8, _ what: StaticString) throws(JSONSyntaxError) {
        skipWhitespace()
        guard pos < count, base[pos] == c else { throw fail(what) }
        pos += 1
    }

    /// Ensures only whitespace remains.
    public func expectEnd() throws(JSONSyntaxError) {
        skipWhitespace()
        if pos != count { throw fail("unexpected bytes after the value") }
    }

    public func fail(_ message: StaticString) -> JSONSyntaxError {
        JSONSyntaxError(offset: pos, message: message.description)
    }

    private func noteSoft(_ kind: JSONSoftFault.Kind, at offset: Int, key: String? = nil) {
        if softFault == nil { softFault = JSONSoftFault(kind: kind, offset: offset, key: key) }
    }

    /// The bytes of a string token; valid until the arena grows or `begin` is called.
    @inline(__always)
    public func bytes(_ t: JSONStringToken) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: (t.inArena ? UnsafePointer(arena.storage) : base) + t.start, count: t.count)
    }

    public func string(_ t: JSONStringToken) -> String { String(decoding: bytes(t), as: UTF8.self) }

    // MARK: - Strings

    /// Scans a string starting at `pos` (which must be at `"`), validating UTF-8 and escapes.
    public func scanString() throws(JSONSyntaxError) -> JSONStringToken {
        guard pos < count, base[pos] == 0x22 else { throw fail("expected a string") }
        let start = pos + 1
        var i = start
        while true {
            // Straight to the first quote, backslash, control or non-ASCII byte.
            i = JSONScanner.nextSpecial(base, i, count)
            guard i < count else { break }
            let c = base[i]
            if c == 0x22 {
                pos = i + 1
                return JSONStringToken(start: start, end: i, inArena: false)
            }
            if c == 0x5C { break }
            if c < 0x20 { pos = i; throw fail("control character in string") }
            i = validateUTF8Sequence(at: i)
        }
        if i >= count { pos = i; throw fail("unterminated string") }
        // Escapes: decode into the arena, starting with the plain prefix. Decoding never lengthens
        // text (an escape is at least as long as the bytes it stands for; other bytes are copied),
        // so room for the rest of the line, plus one word of slack for whole-word copies, is
        // reserved once and the decoder writes without further checks.
        let arenaStart = arena.count
        arena.reserve(count - start + 8)
        var out = arena.storage + arena.count
        out.update(from: base + start, count: i - start)
        out += i - start
        defer { arena.count = arena.storage.distance(to: out) }
        while i < count {
            JSONScanner.copyPlainRun(base, &i, count, to: &out)
            guard i < count else { break }
            let c = base[i]
            if c == 0x22 {
                pos = i + 1
                return JSONStringToken(start: arenaStart, end: arena.storage.distance(to: out), inArena: true)
            }
            if c == 0x5C {
                i = try decodeEscape(at: i, into: &out)
            } else if c < 0x20 {
                pos = i
                throw fail("control character in string")
            } else if c < 0x80 {
                out.pointee = c
                out += 1
                i += 1
            } else {
                let next = validateUTF8Sequence(at: i)
                out.update(from: base + i, count: next - i)
                out += next - i
                i = next
            }
        }
        pos = i
        throw fail("unterminated string")
    }

    /// The high bit of each byte of `w` (little-endian) that is `"`, `\\`, below 0x20 or at least 0x80.
    /// SWAR with exact per-byte tests (no carries cross bytes), so the lowest set bit marks the first such byte.
    @inlinable
    public static func specialBytes(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        // Per byte (high bit cleared): adding 0x60 sets the high bit iff the byte is ≥ 0x20.
        let notControl = ((w & ~high) &+ ones &* 0x60) & high
        // The bytes equal to `c`: x = w ^ c…c is zero there, and ((x & 0x7F) + 0x7F) | x has the
        // high bit clear only for a zero byte (no carry crosses a byte).
        func equal(_ c: UInt64) -> UInt64 {
            let x = w ^ (ones &* c)
            return ~(((x & ~high) &+ ~high) | x) & high
        }
        return (w & high) | (~notControl & high) | equal(0x22) | equal(0x5C)
    }

    /// The index of the first `"`, `\\`, control or non-ASCII byte at or after `i`, or `n` if none:
    /// a word at a time, then byte by byte in the last seven.
    @inlinable @inline(__always)
    public static func nextSpecial(_ p: UnsafePointer<UInt8>, _ i0: Int, _ n: Int) -> Int {
        var i = i0
        while i &+ 8 <= n {
            let mask = specialBytes(UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self))
            if mask != 0 { return i &+ mask.trailingZeroBitCount >> 3 }
            i &+= 8
        }
        while i < n {
            let c = p[i]
            if c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80 { return i }
            i &+= 1
        }
        return n
    }

    /// Validates the UTF-8 sequence starting at `i` (a byte ≥ 0x80); returns the index after it.
    /// A sequence that is not well formed (overlong, surrogate, beyond U+10FFFF or cut short) is
    /// noted as a soft fault and skipped one byte at a time.
    @inline(__always)
    private func validateUTF8Sequence(at i: Int) -> Int {
        let p = base, n = count
        let c0 = p[i]
        var need = 0
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        switch c0 {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default: need = -1
        }
        var ok = need > 0 && i &+ need < n && p[i &+ 1] >= lo && p[i &+ 1] <= hi
        var k = 2
        while ok && k <= need {
            ok = p[i &+ k] & 0xC0 == 0x80
            k &+= 1
        }
        if ok { return i &+ 1 &+ need }
        noteSoft(.invalidUTF8, at: i)
        return i + 1
    }

    /// The four hex digits at `i` (a `\u` escape's), or the error at the first bad one.
    @inline(__always)
    private func readHex4(at i: Int) throws(JSONSyntaxError) -> UInt32 {
        guard i + 4 <= count else { pos = i; throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for k in i..<(i + 4) {
            let c = base[k], d = c &- 0x30, l = (c | 0x20) &- 0x61
            guard d < 10 || l < 6 else { pos = k; throw fail("bad hex digit in \\u escape") }
            v = v << 4 | (d < 10 ? UInt32(d) : UInt32(l) + 10)
        }
        return v
    }

    /// Decodes the escape at `i` (a backslash) to `out`, which it advances; returns the index after
    /// the escape. The caller has reserved the room (decoding never lengthens the text).
    @inline(__always)
    private func decodeEscape(at i: Int, into out: inout UnsafeMutablePointer<UInt8>) throws(JSONSyntaxError) -> Int {
        guard i + 1 < count else { pos = i; throw fail("unterminated string") }
        let e = base[i + 1]
        if e == 0x75 { return try decodeUnicodeEscape(at: i, into: &out) }
        switch e {
        case 0x22, 0x5C, 0x2F: out.pointee = e
        case 0x62: out.pointee = 0x08
        case 0x66: out.pointee = 0x0C
        case 0x6E: out.pointee = 0x0A
        case 0x72: out.pointee = 0x0D
        case 0x74: out.pointee = 0x09
        default:
            pos = i
            throw fail("invalid escape")
        }
        out += 1
        return i + 2
    }

    /// Copies plain bytes from `p[i]` to `o` a word at a time, advancing both, up to the next quote,
    /// backslash, control or non-ASCII byte, or to the last seven readable bytes (`n` from `p`),
    /// which the caller takes one at a time. Whole words are stored, so `o` needs 8 bytes of room
    /// past what it keeps.
    @inline(__always)
    static func copyPlainRun(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ n: Int, to o: inout UnsafeMutablePointer<UInt8>) {
        while i &+ 8 <= n {
            let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            UnsafeMutableRawPointer(o).storeBytes(of: w, as: UInt64.self)
            let mask = specialBytes(w)
            if mask != 0 {
                let k = mask.trailingZeroBitCount >> 3
                i &+= k
                o += k
                return
            }
            i &+= 8
            o += 8
        }
    }

    /// `decodeEscape` for `\\uXXXX` (at `i`), with a following low surrogate when it is a high one.
    @inline(__always)
    private func decodeUnicodeEscape(at i: Int, into out: inout UnsafeMutablePointer<UInt8>) throws(JSONSyntaxError) -> Int {
        let u = try readHex4(at: i + 2)
        var next = i + 6
        var scalar = u
        if u & 0xF800 == 0xD800 {
            // A high surrogate must be followed by an escaped low surrogate.
            var low: UInt32 = 0
            if u <= 0xDBFF, next + 6 <= count, base[next] == 0x5C, base[next + 1] == 0x75 { low = try readHex4(at: next + 2) }
            if low >= 0xDC00 && low <= 0xDFFF {
                scalar = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                next += 6
            } else {
                noteSoft(.loneSurrogate, at: i)
                scalar = 0xFFFD
            }
        }
        // Never a surrogate (a lone one became U+FFFD), so always a scalar.
        UTF8.encode(Unicode.Scalar(scalar)!) { out.pointee = $0; out += 1 }
        return next
    }

    // MARK: - Numbers

    /// Scans a number at `pos` per the JSON grammar.
    public func scanNumber() throws(JSONSyntaxError) -> JSONNumberToken {
        let start = pos
        var i = pos
        let negative = i < count && base[i] == 0x2D
        if negative { i += 1 }
        let intStart = i
        guard i < count, base[i] >= 0x30 && base[i] <= 0x39 else { pos = i; throw fail("expected a digit") }
        i = base[i] == 0x30 ? i + 1 : digitsEnd(i)
        let intEnd = i
        var fracStart = i, fracEnd = i
        if i < count && base[i] == 0x2E {
            fracStart = i + 1
            fracEnd = digitsEnd(fracStart)
            i = fracEnd
            guard fracEnd > fracStart else { pos = i; throw fail("expected a digit after the decimal point") }
        }
        var exponent = 0
        if i < count && (base[i] == 0x65 || base[i] == 0x45) {
            i += 1
            var expNegative = false
            if i < count && (base[i] == 0x2B || base[i] == 0x2D) { expNegative = base[i] == 0x2D; i += 1 }
            let expStart = i
            while i < count && base[i] >= 0x30 && base[i] <= 0x39 {
                if exponent < 1_000_000_000 { exponent = exponent * 10 + Int(base[i] - 0x30) }
                i += 1
            }
            guard i > expStart else { pos = i; throw fail("expected a digit in the exponent") }
            exponent = min(exponent, 1_000_000_000)
            if expNegative { exponent = -exponent }
        }
        pos = i
        return JSONNumberToken(start: start, end: i, negative: negative, intStart: intStart, intEnd: intEnd,
                               fracStart: fracStart, fracEnd: fracEnd, exponent: exponent)
    }

    /// The index after the run of ASCII digits starting at `i`.
    private func digitsEnd(_ i0: Int) -> Int {
        var i = i0
        while i < count && base[i] >= 0x30 && base[i] <= 0x39 { i += 1 }
        return i
    }

    /// The exact integer a number token denotes, if it is integral (`1e3` and `1000.0` are 1000).
    public func integerValue(_ n: JSONNumberToken) -> JSONIntegerValue {
        // Significant digits are the integer digits then the fraction digits; value = D × 10^(exp − fracLen).
        let intLen = n.intEnd - n.intStart
        let fracLen = n.fracEnd - n.fracStart
        let total = intLen + fracLen
        @inline(__always) func digit(_ k: Int) -> UInt8 {
            k < intLen ? base[n.intStart + k] &- 0x30 : base[n.fracStart + k - intLen] &- 0x30
        }
        var first = 0
        while first < total && digit(first) == 0 { first += 1 }
        if first == total { return .value(negative: false, magnitude: 0) }
        var last = total - 1
        while digit(last) == 0 { last -= 1 }
        let scale = n.exponent - fracLen + (total - 1 - last)
        if scale < 0 { return .notIntegral }
        if (last - first + 1) + scale > 20 { return .tooLarge }
        var v: UInt64 = 0
        // The significant digits, then `scale` zeros.
        for k in first...(last + scale) {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(k <= last ? UInt64(digit(k)) : 0)
            if o1 || o2 { return .tooLarge }
            v = a
        }
        return .value(negative: n.negative, magnitude: v)
    }

    private static let exactPowersOf10: [Double] = (0...22).map { k in
        var p = 1.0
        for _ in 0..<k { p *= 10 }
        return p
    }

    /// The double nearest to a number token (correctly rounded); ±infinity when it overflows.
    public func doubleValue(_ n: JSONNumberToken) -> Double {
        let intLen = n.intEnd - n.intStart
        let fracLen = n.fracEnd - n.fracStart
        // Fast path (Clinger): ≤ 19 significant digits whose value is < 2^53, scaled by an exact power of ten.
        if intLen + fracLen <= 19 {
            var w: UInt64 = 0
            for k in n.intStart..<n.intEnd { w = w &* 10 &+ UInt64(base[k] &- 0x30) }
            for k in n.fracStart..<n.fracEnd { w = w &* 10 &+ UInt64(base[k] &- 0x30) }
            let e = n.exponent - fracLen
            if w == 0 { return n.negative ? -0.0 : 0.0 }
            if w <= (1 << 53) && e >= -22 && e <= 22 {
                let m = Double(w)
                let v = e >= 0 ? m * JSONScanner.exactPowersOf10[e] : m / JSONScanner.exactPowersOf10[-e]
                return n.negative ? -v : v
            }
        }
        // Slow path: the C library's correctly rounded strtod on a NUL-terminated copy.
        let len = n.end - n.start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: len + 1) { buf in
            for k in 0..<len { buf[k] = CChar(bitPattern: base[n.start + k]) }
            buf[len] = 0
            return strtod(buf.baseAddress!, nil)
        }
    }

    // MARK: - Objects and skipping

    /// Opens duplicate-key tracking for an object whose `{` was just consumed.
    public func beginObjectKeys() { objectKeyStarts.push(keySpans.count) }

    /// Records a key of the innermost tracked object, noting a soft fault if it was already present.
    public func noteKey(_ key: JSONStringToken) {
        let from = objectKeyStarts.count > 0 ? objectKeyStarts.top : 0
        let kb = bytes(key)
        var k = from
        while k < keySpans.count {
            let s = keySpans[k]
            if s.count == key.count && memcmp(bytes(s).baseAddress!, kb.baseAddress!, key.count) == 0 {
                noteSoft(.duplicateKey, at: pos, key: string(key))
                break
            }
            k += 1
        }
        keySpans.push(key)
    }

    /// Notes that `key` repeats a key the caller tracks itself (known fields matched by the caller).
    public func noteDuplicateKey(_ key: JSONStringToken) {
        noteSoft(.duplicateKey, at: pos, key: string(key))
    }

    /// Closes the innermost tracked object.
    public func endObjectKeys() {
        guard objectKeyStarts.count > 0 else { return }
        let s = objectKeyStarts.pop()
        if s < keySpans.count { keySpans.count = s }
    }

    /// Consumes one JSON value of any kind, validating it completely (iteratively: depth is unbounded).
    public func skipValue() throws(JSONSyntaxError) {
        let baseDepth = containers.count
        value: while true {
            skipWhitespace()
            guard pos < count else { throw fail("expected a value") }
            switch base[pos] {
            case 0x7B, 0x5B: // { or [
                let isObject: UInt8 = base[pos] == 0x7B ? 1 : 0
                pos += 1
                skipWhitespace()
                if pos < count && base[pos] == (isObject == 1 ? 0x7D : 0x5D) {
                    pos += 1
                } else {
                    containers.push(isObject)
                    deepestSkipped = max(deepestSkipped, containers.count)
                    if isObject == 1 {
                        beginObjectKeys()
                        try scanMemberKey()
                    }
                    continue value
                }
            case 0x22: _ = try scanString()
            case 0x2D, 0x30...0x39: _ = try scanNumber()
            case 0x74: try literal("true")
            case 0x66: try literal("false")
            case 0x6E: try literal("null")
            default: throw fail("expected a value")
            }
            // A value ended: close finished containers, or move to the next element.
            while containers.count > baseDepth {
                skipWhitespace()
                guard pos < count else { throw fail("unterminated container") }
                let inObject = containers.top == 1
                if base[pos] == 0x2C {
                    pos += 1
                    if inObject { try scanMemberKey() }
                    continue value
                }
                guard base[pos] == (inObject ? 0x7D : 0x5D) else {
                    throw fail(inObject ? "expected ',' or '}' in object" : "expected ',' or ']' in array")
                }
                pos += 1
                _ = containers.pop()
                if inObject { endObjectKeys() }
            }
            return
        }
    }

    /// Scans `"key" :` inside a tracked object (`noteKey`); returns the key.
    @discardableResult
    public func scanMemberKey() throws(JSONSyntaxError) -> JSONStringToken {
        skipWhitespace()
        let key = try scanString()
        noteKey(key)
        try expect(0x3A, "expected ':' after an object key")
        return key
    }

    /// Consumes an ASCII literal such as `true`.
    public func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard pos + n <= count, memcmp(base + pos, word.utf8Start, n) == 0 else { throw fail("invalid literal") }
        pos += n
    }
}

/// A growable stack of plain values in memory its owner frees (`deallocate`), for the scanner's
/// per-line bookkeeping and its arena: no reference counting or uniqueness checks on push and pop.
struct ScratchStack<Element: BitwiseCopyable> {
    /// The elements, `storage[0..<count]`; moves when the stack grows.
    private(set) var storage: UnsafeMutablePointer<Element>
    private var capacity: Int
    /// Elements in use; lowering it drops the ones above.
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    func deallocate() { storage.deallocate() }

    subscript(k: Int) -> Element { storage[k] }

    /// The last pushed element (count > 0).
    var top: Element { storage[count - 1] }

    /// Makes room for `n` more elements, doubling the capacity as often as that takes.
    @inline(__always)
    mutating func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        while capacity < count + n { capacity *= 2 }
        let grown = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
        grown.update(from: storage, count: count)
        storage.deallocate()
        storage = grown
    }

    mutating func push(_ e: Element) {
        reserve(1)
        storage[count] = e
        count += 1
    }

    mutating func pop() -> Element {
        count -= 1
        return storage[count]
    }
}
