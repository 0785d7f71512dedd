import Support
#if canImport(Glibc)
import Glibc
#endif

extension EventParser {
    /// The fast path for the common spelling of an event line, tried before the general parser.
    ///
    /// It accepts only a strict subset of JSON: one object of known keys (each at most once, any
    /// order), spaces as the only whitespace, strings of printable ASCII without escapes, integers
    /// without fraction or exponent, decimals without exponent, `null` metadata. On such a line it
    /// produces exactly the event the general parser would (its plain twin; tests compare the two).
    /// Anything else — an unknown key, an escape, a non-ASCII byte, `1e3`, a fault of any kind —
    /// returns false having appended nothing, and the general parser decides.
    ///
    /// Why: the general path validates character by character through a scanner object; this one
    /// keeps its cursor in a register, recognises keys and digits eight bytes at a time, and is
    /// several times faster on the lines real logs are made of.
    @inline(__always)
    public func parseFast(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Bool {
        let p = line.baseAddress!
        let n = line.count
        var i = 0
        @inline(__always) func spaces() { while i < n && p[i] == 0x20 { i += 1 } }
        spaces()
        guard i < n, p[i] == 0x7B else { return false }
        i += 1
        var e = Event(userID: 0, itemID: 0, ts: 0, idPayload: 0, idLength: Event.integerID, type: 0, surface: 0,
                      dwellMs: 0, value: 0, line: lineNumber)
        var seen = 0
        var idStart = 0, idCount = -1
        var typeStart = 0, typeCount = 0, surfaceStart = 0, surfaceCount = 0
        var knownType: UInt32?, knownSurface: UInt32?
        var unknownCount = 0, unknown0 = 0, unknown0Count = 0, unknown1 = 0, unknown1Count = 0

        /// A non-negative decimal without exponent (`12`, `0.5`, `975.187`) whose value the exact fast
        /// path of `JSONScanner.doubleValue` covers, or `null` (0); nil otherwise.
        @inline(__always) func metadata() -> Double? {
            if i &+ 4 <= n && UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) == 0x6C6C_756E { // "null"
                i &+= 4
                return 0
            }
            guard let (d, next) = FastDigits.decimal(p, i, n) else { return nil }
            i = next
            return d
        }

        /// A string of printable ASCII without escapes at `i` (on its opening quote); returns its
        /// start and length and moves past the closing quote.
        @inline(__always) func plainString() -> (Int, Int)? {
            guard i < n, p[i] == 0x22, let end = FastStrings.end(p, i + 1, n) else { return nil }
            let start = i + 1
            i = end + 1
            return (start, end - start)
        }

        /// After a member: `,` (another member follows) or `}` (the object closed), consumed.
        enum MemberEnd { case more, closed, notFast }
        @inline(__always) func endOfMember() -> MemberEnd {
            spaces()
            guard i < n else { return .notFast }
            if p[i] == 0x2C { i += 1; return .more }
            guard p[i] == 0x7D else { return .notFast }
            i += 1
            return .closed
        }

        members: while true {
            spaces()
            guard i + 10 <= n, p[i] == 0x22 else { return false }
            // The key and its closing quote, recognised by its first eight bytes.
            let field: Field
            if let (f, length) = fastWords.field(at: p + (i + 1)) {
                field = f
                i += length + 2
            }
            else {
                // An unknown key: plain ASCII, distinct from the other unknown keys of the line (two at
                // most here), its value validated and skipped by the general scanner.
                guard let (ks, kc) = plainString(), unknownCount < 2 else { return false }
                if unknownCount > 0 && unknown0Count == kc && memcmp(p + unknown0, p + ks, kc) == 0 { return false }
                if unknownCount > 1 && unknown1Count == kc && memcmp(p + unknown1, p + ks, kc) == 0 { return false }
                if unknownCount == 0 { (unknown0, unknown0Count) = (ks, kc) } else { (unknown1, unknown1Count) = (ks, kc) }
                unknownCount += 1
                spaces()
                guard i < n, p[i] == 0x3A else { return false }
                i += 1
                let sc = scanner
                sc.begin(p, count: n)
                sc.pos = i
                do { try sc.skipValue() } catch { return false }
                guard sc.softFault == nil else { return false }
                i = sc.pos
                switch endOfMember() {
                case .more: continue members
                case .closed: break members
                case .notFast: return false
                }
            }
            let bit = 1 << field.rawValue
            guard seen & bit == 0 else { return false }
            seen |= bit
            spaces()
            guard i < n, p[i] == 0x3A else { return false }
            i += 1
            spaces()
            switch field {
            case .eventID:
                if i < n && p[i] == 0x22 {
                    guard let (s, c) = plainString() else { return false }
                    idStart = s
                    idCount = c
                } else {
                    guard let (v, next) = FastDigits.unsigned(p, i, n) else { return false }
                    i = next
                    e.idPayload = v
                    idCount = -1
                }
            case .ts:
                guard let (v, next) = FastDigits.unsigned(p, i, n), v <= UInt64(Int64.max) else { return false }
                i = next
                e.ts = Int64(v)
            case .userID:
                guard let (v, next) = FastDigits.unsigned(p, i, n) else { return false }
                i = next
                e.userID = v
            case .itemID:
                guard let (v, next) = FastDigits.unsigned(p, i, n) else { return false }
                i = next
                e.itemID = v
            case .type:
                guard i < n, p[i] == 0x22, let (end, id) = types.plainString(p, i + 1, n) else { return false }
                (typeStart, typeCount, knownType) = (i + 1, end - i - 1, id)
                i = end + 1
            case .surface:
                guard i < n, p[i] == 0x22, let (end, id) = surfaces.plainString(p, i + 1, n) else { return false }
                (surfaceStart, surfaceCount, knownSurface) = (i + 1, end - i - 1, id)
                i = end + 1
            case .dwellMs:
                guard let d = metadata() else { return false }
                e.dwellMs = d
            case .value:
                guard let d = metadata() else { return false }
                e.value = d
            }
            switch endOfMember() {
            case .more: continue members
            case .closed: break members
            case .notFast: return false
            }
        }
        spaces()
        guard i == n, seen & Field.requiredMask == Field.requiredMask, e.ts >= rules.minTs, e.ts <= rules.maxTs else { return false }
        e.type = knownType ?? types.internPlain(p + typeStart, count: typeCount, readable: n - typeStart)
        e.surface = knownSurface ?? surfaces.internPlain(p + surfaceStart, count: surfaceCount, readable: n - surfaceStart)
        if idCount >= 0 {
            e.idLength = UInt32(idCount)
            e.idPayload = batch.appendID(UnsafeBufferPointer(start: p + idStart, count: idCount))
        }
        batch.append(e)
        return true
    }

}

/// Digit runs read eight bytes at a time (SWAR), for the fast path.
enum FastDigits {
    static let ones: UInt64 = 0x0101_0101_0101_0101

    /// How many of the 8 bytes of `w` (from the lowest) are ASCII digits before the first non-digit.
    ///
    /// `t = w − "00000000"` bytewise; a byte is a digit iff its `t` is below 10, i.e. neither `t` nor
    /// `t + 0x76` has its high bit set. Borrows and carries only move towards higher bytes, and
    /// only out of non-digits, so every byte up to the first non-digit is classified exactly.
    @inline(__always)
    static func leadingDigits(_ w: UInt64) -> Int {
        let t = w &- ones &* 0x30
        let nonDigit = (t | (t &+ ones &* 0x76)) & (ones &* 0x80)
        return nonDigit == 0 ? 8 : nonDigit.trailingZeroBitCount >> 3
    }

    /// The value of the first `k` (0...7) digits of `w` (0 for k = 0: the shift by 64 clears `w`).
    @inline(__always)
    static func value(_ w: UInt64, _ k: Int) -> UInt64 {
        let shift = UInt64(8 &* (8 &- k))
        return JSONScanner.eightDigits((w << shift) | ((ones &* 0x30) >> UInt64(8 &* k)))
    }

    /// 10^k for k in 0...19 (a switch the compiler turns into a constant table; no lazy global).
    @inline(__always)
    static func powersOfTen64(_ k: Int) -> UInt64 {
        switch k {
        case 0: return 1
        case 1: return 10
        case 2: return 100
        case 3: return 1_000
        case 4: return 10_000
        case 5: return 100_000
        case 6: return 1_000_000
        case 7: return 10_000_000
        case 8: return 100_000_000
        case 9: return 1_000_000_000
        case 10: return 10_000_000_000
        case 11: return 100_000_000_000
        case 12: return 1_000_000_000_000
        case 13: return 10_000_000_000_000
        case 14: return 100_000_000_000_000
        case 15: return 1_000_000_000_000_000
        case 16: return 10_000_000_000_000_000
        case 17: return 100_000_000_000_000_000
        case 18: return 1_000_000_000_000_000_000
        default: return 10_000_000_000_000_000_000
        }
    }

    /// 10^k as a double for k in 0...22 (exact).
    @inline(__always)
    static func powerOfTen(_ k: Int) -> Double { k <= 19 ? Double(powersOfTen64(k)) : Double(powersOfTen64(k - 19)) * 1e19 }

    /// A run of at most `limit` (≤ 19) digits at `i` as (value, digit count, index after): exact,
    /// since 19 digits cannot overflow. Reads 8 bytes per step; falls back to bytes near the end.
    @inline(__always)
    static func run(_ p: UnsafePointer<UInt8>, _ i0: Int, _ n: Int, limit: Int = 19) -> (UInt64, Int, Int) {
        var i = i0
        var v: UInt64 = 0
        var left = limit
        while i &+ 8 <= n {
            let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            let k = min(leadingDigits(w), left)
            if k == 8 {
                v = v &* 100_000_000 &+ JSONScanner.eightDigits(w)
                i &+= 8
                left &-= 8
                continue
            }
            if k > 0 { v = v &* powersOfTen64(k) &+ value(w, k) }
            return (v, i &+ k &- i0, i &+ k)
        }
        while left > 0 && i < n && p[i] &- 0x30 < 10 { v = v &* 10 &+ UInt64(p[i] &- 0x30); i &+= 1; left &-= 1 }
        return (v, i &- i0, i)
    }

    /// A plain unsigned integer (no sign, no leading zero, no fraction or exponent) that fits 64 bits.
    ///
    /// The digits are counted in words of eight; the whole words are converted from the number's
    /// start and the partial last word's k digits are appended by one multiply by 10^k (a constant
    /// table). So the only branches are on how many words the number spans, which a field's values
    /// share (ids are 16–20 digits, timestamps 10): random 64-bit ids, half 19 and half 20 digits
    /// long, take the same path, where a branch on the digit count mispredicts every other line.
    @inline(__always)
    static func unsigned(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (UInt64, Int)? {
        guard i &+ 24 <= n else { return unsignedNearEnd(p, i, n) }
        let w0 = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
        let k0 = leadingDigits(w0)
        guard k0 > 0, k0 == 1 || p[i] != 0x30 else { return nil }
        let v: UInt64, end: Int
        if k0 < 8 {
            v = value(w0, k0)
            end = i &+ k0
        } else {
            let w1 = UnsafeRawPointer(p + (i &+ 8)).loadUnaligned(as: UInt64.self)
            let k1 = leadingDigits(w1)
            if k1 < 8 {
                v = JSONScanner.eightDigits(w0) &* powersOfTen64(k1) &+ value(w1, k1)
                end = i &+ 8 &+ k1
            } else {
                let w2 = UnsafeRawPointer(p + (i &+ 16)).loadUnaligned(as: UInt64.self)
                let k2 = leadingDigits(w2)
                guard k2 <= 4 else { return nil }
                // 16 digits (< 10^16) times 10^k2 (≤ 10^4) plus the last k2 digits: only 20 digits can overflow.
                let sixteen = sixteenDigits(p + i)
                let (high, low) = sixteen.multipliedFullWidth(by: powersOfTen64(k2))
                let (sum, carry) = low.addingReportingOverflow(value(w2, k2))
                guard high == 0, !carry else { return nil }
                v = sum
                end = i &+ 16 &+ k2
            }
        }
        guard end >= n || (p[end] != 0x2E && p[end] | 0x20 != 0x65) else { return nil }
        return (v, end)
    }

    /// The value of the 16 ASCII digits at `p`, in vector lanes: pairs, then fours, then eights of
    /// digits combined by one multiply-add each.
    @inline(__always)
    static func sixteenDigits(_ p: UnsafePointer<UInt8>) -> UInt64 {
        let d = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt8>.self) &- SIMD16(repeating: 0x30)
        let x = unsafeBitCast(d, to: SIMD8<UInt16>.self)
        let pairs = (x & 0xFF) &* 10 &+ (x &>> 8)
        let y = unsafeBitCast(pairs, to: SIMD4<UInt32>.self)
        let fours = (y & 0xFFFF) &* 100 &+ (y &>> 16)
        let z = unsafeBitCast(fours, to: SIMD2<UInt64>.self)
        let eights = (z & 0xFFFF_FFFF) &* 10_000 &+ (z &>> 32)
        return eights[0] &* 100_000_000 &+ eights[1]
    }

    /// `unsigned` near the end of the buffer, a byte at a time.
    static func unsignedNearEnd(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (UInt64, Int)? {
        var end = i
        var v: UInt64 = 0
        while end < n && p[end] &- 0x30 < 10 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(p[end] &- 0x30))
            guard !o1 && !o2 else { return nil }
            v = a
            end &+= 1
        }
        let count = end &- i
        guard count > 0, count <= 20, count == 1 || p[i] != 0x30 else { return nil }
        guard end >= n || (p[end] != 0x2E && p[end] | 0x20 != 0x65) else { return nil }
        return (v, end)
    }

    /// A non-negative decimal `digits[.digits]` (no exponent) within Clinger's exact fast path.
    @inline(__always)
    static func decimal(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (Double, Int)? {
        let (whole, count, afterInt) = run(p, i, n)
        guard count > 0, count == 1 || p[i] != 0x30 else { return nil }
        var w = whole
        var digits = count
        var fraction = 0
        var next = afterInt
        if next < n && p[next] == 0x2E {
            let (f, fc, afterFrac) = run(p, next &+ 1, n)
            guard fc > 0, fc <= 19 else { return nil }
            w = w &* powersOfTen64(fc) &+ f
            fraction = fc
            digits &+= fc
            next = afterFrac
        }
        guard next >= n || p[next] | 0x20 != 0x65 else { return nil }
        guard digits <= 19, w <= 1 << 53, fraction <= 22 else { return nil }
        return (fraction == 0 ? Double(w) : Double(w) / powerOfTen(fraction), next)
    }
}

/// Little-endian words of the known keys with their closing quote (`ts"` …), for one-compare matching.
struct FastKeyWords {
    let tsQ, typeQ, valueQ, userQ, itemQ, surfaceQ, eventID8, dwell8: UInt64

    /// The known key spelled at `p` (the byte after its opening quote; 9 bytes readable) with its
    /// closing quote, and the key's length; nil for any other key.
    @inline(__always)
    func field(at p: UnsafePointer<UInt8>) -> (EventParser.Field, Int)? {
        let w = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
        if w == userQ { return (.userID, 7) }
        if w == itemQ { return (.itemID, 7) }
        if w == surfaceQ { return (.surface, 7) }
        if w & 0xFF_FFFF == tsQ { return (.ts, 2) }
        if w & 0xFF_FFFF_FFFF == typeQ { return (.type, 4) }
        if w & 0xFFFF_FFFF_FFFF == valueQ { return (.value, 5) }
        guard p[8] == 0x22 else { return nil }
        if w == eventID8 { return (.eventID, 8) }
        if w == dwell8 { return (.dwellMs, 8) }
        return nil
    }

    /// The known key whose decoded bytes are exactly `b` (any length); nil for any other key.
    /// Why not compare with each field's name: that goes through `String` and ARC on every key of
    /// the lines the general parser takes. Here the bytes are copied into a word-padded buffer with
    /// a closing quote after them, and `field(at:)` decides.
    @inline(__always)
    func field(exactly b: UnsafeBufferPointer<UInt8>) -> EventParser.Field? {
        guard b.count >= 2, b.count <= 8 else { return nil }
        var padded: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &padded) { raw -> EventParser.Field? in
            raw.copyMemory(from: UnsafeRawBufferPointer(b))
            raw[b.count] = 0x22
            guard let (f, length) = field(at: raw.baseAddress!.assumingMemoryBound(to: UInt8.self)), length == b.count else { return nil }
            return f
        }
    }

    init() {
        func word(_ s: String) -> UInt64 {
            var w: UInt64 = 0
            for (k, b) in s.utf8.prefix(8).enumerated() { w |= UInt64(b) << (8 * UInt64(k)) }
            return w
        }
        tsQ = word("ts\""); typeQ = word("type\""); valueQ = word("value\"")
        userQ = word("user_id\""); itemQ = word("item_id\""); surfaceQ = word("surface\"")
        eventID8 = word("event_id"); dwell8 = word("dwell_ms")
    }
}
