import Support

extension EventParser {
    /// The fast path: a line spelled exactly as most producers write it — compact, the fields in the
    /// table's order (`EventField`), optional ones possibly absent, no other key; integers plain
    /// (no sign, fraction or exponent), strings plain (printable ASCII, no escapes), metadata a
    /// plain decimal or `null`. Each separator and key is checked as whole words, so no key is
    /// looked up and no whitespace skipped. Any other line returns false having appended nothing,
    /// and the general parser decides; tests compare the two.
    @inline(__always)
    public func parseCanonical(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Bool {
        canonical(line.baseAddress!, line.count, inWindow: false, lineNumber: lineNumber, into: batch) != 0
    }

    /// `parseCanonical` on a line still inside the decompressed window, before it has been split off:
    /// `available` bytes from `p` may be read, and the line must end `}\n` within them. Returns the
    /// line's length with its newline, or 0 (nothing appended) for the general parser to decide.
    ///
    /// Every byte a match depends on lies before that newline (no word compared contains one, and
    /// digits and plain strings stop at it), so the line is judged exactly as `parseCanonical` would
    /// judge it on its own; finding its end while parsing it saves a newline search.
    @inline(__always)
    public func parseCanonical(_ p: UnsafePointer<UInt8>, available: Int, lineNumber: Int, into batch: EventBatch) -> Int {
        canonical(p, available, inWindow: true, lineNumber: lineNumber, into: batch)
    }

    /// The canonical path over `n` readable bytes; `inWindow` says whether the line ends at `n`
    /// (false) or at the first `}\n` (true). Returns the bytes the line took, or 0.
    @inline(__always)
    func canonical(_ p: UnsafePointer<UInt8>, _ n: Int, inWindow: Bool, lineNumber: Int, into batch: EventBatch) -> Int {
        resetValues()
        var i = 0
        for f in EventField.allCases {
            let key = keys.canonical[f.rawValue]
            guard key.matches(p + i, readable: n &- i) else {
                if f.isRequired { return 0 }
                continue
            }
            i &+= key.count
            switch f.kind {
            case .eventID, .unsigned, .signed:
                guard let (v, next) = FastDigits.unsigned(p, i, n), f.kind != .signed || v <= UInt64(Int64.max) else { return 0 }
                numbers[f.rawValue] = v
                i = next
            case .string:
                guard i < n, p[i] == 0x22, let (end, id) = interner(f).plainString(p, i &+ 1, n) else { return 0 }
                texts[f.rawValue] = TextValue(start: p + (i &+ 1), count: end &- i &- 1, readable: n &- i &- 1, known: id, plain: true)
                i = end &+ 1
            case .metadata:
                guard let (x, next) = FastDigits.metadata(p, i, n) else { return 0 }
                numbers[f.rawValue] = x.bitPattern
                i = next
            }
        }
        let taken: Int
        if inWindow {
            guard i &+ 2 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt16.self) == 0x0A7D else { return 0 }
            taken = i &+ 2
        } else {
            guard i &+ 1 == n, p[i] == 0x7D else { return 0 }
            taken = n
        }
        return emit(lineNumber: lineNumber, into: batch) ? taken : 0
    }
}
