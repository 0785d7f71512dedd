import Support

extension EventParser {
    /// The fastest path: a line spelled exactly as most producers write it — compact, keys in the
    /// declaration order `event_id, ts, user_id, item_id, type, surface[, dwell_ms][, value]`, an
    /// integer event id. The punctuation and keys between the values are checked as whole words, so
    /// no key is looked up and no whitespace is skipped. Any other line returns false having appended
    /// nothing, and `parseFast` (then the general parser) decides; tests compare all three.
    @inline(__always)
    public func parseCanonical(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Bool {
        canonical(line.baseAddress!, line.count, inWindow: false, lineNumber: lineNumber, into: batch) != 0
    }

    /// `parseCanonical` on a line still inside the decompressed window, before it has been split off:
    /// `available` bytes from `p` may be read, and the line must end `}\n` within them. Returns the
    /// line's length with its newline, or 0 (nothing appended) for the other paths to decide.
    ///
    /// Why: most lines are canonical, and finding their end while parsing them saves the separate
    /// newline search over every byte. Every byte a match depends on lies before that newline (no
    /// word compared contains one, and digits and plain strings stop at it), so the line is judged
    /// exactly as `parseCanonical` would judge it on its own.
    @inline(__always)
    public func parseCanonical(_ p: UnsafePointer<UInt8>, available: Int, lineNumber: Int, into batch: EventBatch) -> Int {
        canonical(p, available, inWindow: true, lineNumber: lineNumber, into: batch)
    }

    /// The canonical path over `n` readable bytes; `inWindow` says whether the line ends at `n`
    /// (false) or at the first `}\n` (true). Returns the bytes the line took, or 0.
    @inline(__always)
    func canonical(_ p: UnsafePointer<UInt8>, _ n: Int, inWindow: Bool, lineNumber: Int, into batch: EventBatch) -> Int {
        let t = canonicalWords
        @inline(__always) func word(_ at: Int) -> UInt64 { UnsafeRawPointer(p + at).loadUnaligned(as: UInt64.self) }
        @inline(__always) func tail(_ at: Int, _ mask: UInt64) -> UInt64 { word(at) & mask }

        // {"event_id": <integer>
        guard n >= 96, word(0) == t.open, tail(8, 0xFFFF_FFFF) == t.openTail else { return 0 }
        guard let (eventID, a) = FastDigits.unsigned(p, 12, n), a &+ 24 <= n else { return 0 }
        // ,"ts": <integer>
        guard tail(a, 0xFFFF_FFFF_FFFF) == t.ts, let (ts, b) = FastDigits.unsigned(p, a &+ 6, n), b &+ 24 <= n,
              ts <= UInt64(Int64.max) else { return 0 }
        // ,"user_id": <integer>
        guard word(b) == t.user, tail(b &+ 8, 0xFF_FFFF) == t.idTail,
              let (user, c) = FastDigits.unsigned(p, b &+ 11, n), c &+ 24 <= n else { return 0 }
        // ,"item_id": <integer>
        guard word(c) == t.item, tail(c &+ 8, 0xFF_FFFF) == t.idTail,
              let (item, d) = FastDigits.unsigned(p, c &+ 11, n), d &+ 16 <= n else { return 0 }
        // ,"type":"<string>" — a type seen before is found, end and id, in one probe.
        let typeStart = d &+ 9
        guard word(d) == t.type, p[d &+ 8] == 0x22, let (typeEnd, knownType) = types.plainString(p, typeStart, n) else { return 0 }
        // ,"surface":"<string>"
        let surfaceStart = typeEnd &+ 13
        guard typeEnd &+ 16 <= n, word(typeEnd &+ 1) == t.surface, tail(typeEnd &+ 9, 0xFFFF_FFFF) == t.surfaceTail,
              let (surfaceEnd, knownSurface) = surfaces.plainString(p, surfaceStart, n) else { return 0 }
        var i = surfaceEnd &+ 1
        var dwell = 0.0, value = 0.0
        // [,"dwell_ms": <number|null>][,"value": <number|null>] }
        if i &+ 12 <= n && word(i) == t.dwell && tail(i &+ 8, 0xFFFF_FFFF) == t.dwellTail {
            guard let (x, next) = FastDigits.metadata(p, i &+ 12, n) else { return 0 }
            dwell = x
            i = next
        }
        if i &+ 9 <= n && word(i) == t.value && p[i &+ 8] == 0x3A {
            guard let (x, next) = FastDigits.metadata(p, i &+ 9, n) else { return 0 }
            value = x
            i = next
        }
        let taken: Int
        if inWindow {
            guard i &+ 2 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt16.self) == 0x0A7D else { return 0 }
            taken = i &+ 2
        } else {
            guard i &+ 1 == n, p[i] == 0x7D else { return 0 }
            taken = n
        }
        let tsValue = Int64(ts)
        guard tsValue >= rules.minTs, tsValue <= rules.maxTs else { return 0 }
        let e = Event(userID: user, itemID: item, ts: tsValue, idPayload: eventID, idLength: Event.integerID,
                      type: knownType ?? types.internPlain(p + typeStart, count: typeEnd &- typeStart, readable: n &- typeStart),
                      surface: knownSurface ?? surfaces.internPlain(p + surfaceStart, count: surfaceEnd &- surfaceStart, readable: n &- surfaceStart),
                      dwellMs: dwell, value: value, line: lineNumber)
        batch.append(e)
        return taken
    }
}

/// The separators and keys of the canonical line as little-endian words.
struct CanonicalWords {
    let open, openTail, ts, user, item, idTail, type, surface, surfaceTail, dwell, dwellTail, value: UInt64

    init() {
        func w(_ s: String) -> UInt64 {
            var x: UInt64 = 0
            for (k, b) in s.utf8.prefix(8).enumerated() { x |= UInt64(b) << (8 * UInt64(k)) }
            return x
        }
        open = w("{\"event_"); openTail = w("id\":")
        ts = w(",\"ts\":")
        user = w(",\"user_i"); item = w(",\"item_i"); idTail = w("d\":")
        type = w(",\"type\":")
        surface = w(",\"surfac"); surfaceTail = w("e\":\"")
        dwell = w(",\"dwell_"); dwellTail = w("ms\":")
        value = w(",\"value\"")
    }
}

/// Plain strings (printable ASCII, no escapes) found eight bytes at a time.
enum FastStrings {
    /// The index of the closing quote of a plain string whose contents start at `i`; nil if the
    /// string has an escape, a control or non-ASCII byte, or does not end.
    @inline(__always)
    static func end(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int? {
        let k = JSONScanner.nextSpecial(p, i, n)
        return k < n && p[k] == 0x22 ? k : nil
    }
}

extension FastDigits {
    /// `null` (0) or a non-negative decimal within the exact fast path; (value, index after).
    @inline(__always)
    static func metadata(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (Double, Int)? {
        if i &+ 16 <= n, let short = shortDecimal(p, i) { return short }
        if i &+ 4 <= n && UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) == 0x6C6C_756E { return (0, i &+ 4) }
        return decimal(p, i, n)
    }

    /// `decimal` for the common shape, 1–7 integer digits and an optional fraction of 1–7 digits,
    /// from two word loads (16 bytes readable from `i`); nil for anything else, which `decimal`
    /// then decides. Why: `dwell_ms` is on most lines, and its length and whether it has a fraction
    /// vary line to line; here neither is a branch, only the word each part is read from.
    @inline(__always)
    static func shortDecimal(_ p: UnsafePointer<UInt8>, _ i: Int) -> (Double, Int)? {
        let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
        let k = leadingDigits(w)
        guard k > 0, k < 8, k == 1 || w & 0xFF != 0x30 else { return nil }
        let dot = (w &>> UInt64(8 &* k)) & 0xFF == 0x2E
        let w2 = UnsafeRawPointer(p + (i &+ k &+ 1)).loadUnaligned(as: UInt64.self)
        let f = dot ? leadingDigits(w2) : 0
        guard !dot || (f > 0 && f < 8) else { return nil }
        let next = dot ? i &+ k &+ 1 &+ f : i &+ k
        guard p[next] | 0x20 != 0x65 else { return nil }
        // At most 14 digits: below 2^53, so the quotient by an exact power of ten is correctly rounded.
        let digits = value(w, k) &* powersOfTen64(f) &+ value(w2, f)
        return (Double(digits) / powerOfTen(f), next)
    }
}
