import Events
import Support
import Testing
import TestSupport

/// `ByteInterner`: one id per distinct byte string whichever entry point found it, and the
/// remembered plain strings (`knownPlain`) never answering for a string they are not.
@Suite struct ByteInternerTests {
    /// `text` padded with `filler` so that 16 bytes can be read from any of its first bytes.
    func padded(_ text: String, _ filler: String = String(repeating: "#", count: 32)) -> [UInt8] { Array((text + filler).utf8) }

    @Test func oneIDPerStringWhicheverWayItIsLookedUp() {
        let t = ByteInterner()
        let words = ["click", "impression", "", "a", "a\u{0}", "a\u{0}\u{0}", "exactly_16_bytes", "seventeen_bytes_x", "feed", "feedback",
                     String(repeating: "long", count: 10)]
        var ids: [UInt32] = []
        for w in words {
            let bytes = Array(w.utf8)
            let viaBuffer = bytes.withUnsafeBufferPointer { t.intern($0) }
            let text = padded(w)
            let viaWords = text.withUnsafeBufferPointer { t.intern($0.baseAddress!, count: bytes.count, readable: $0.count) }
            #expect(viaBuffer == viaWords, "\(w)")
            #expect(t.bytes(viaBuffer) == bytes, "\(w)")
            ids.append(viaBuffer)
        }
        #expect(Set(ids).count == words.count, "distinct strings must get distinct ids: \(ids)")
        #expect(ids == (0..<UInt32(words.count)).map { $0 }, "ids are dense, in order of first sight")
        // Looked up again, in another order and another way, each keeps its id.
        for (w, id) in zip(words, ids).reversed() {
            let text = padded(w + "\"")
            #expect(text.withUnsafeBufferPointer { t.internPlain($0.baseAddress!, count: w.utf8.count, readable: $0.count) } == id, "\(w)")
        }
        #expect(t.count == words.count)
    }

    @Test func knownPlainAnswersOnlyForARememberedStringAndItsQuote() throws {
        let t = ByteInterner()
        func known(_ text: String) -> (id: UInt32, count: Int)? { padded(text).withUnsafeBufferPointer { t.knownPlain($0.baseAddress!) } }
        func remember(_ s: String, followedBy tail: String = "\",\"x\"") -> UInt32 {
            padded(s + tail).withUnsafeBufferPointer { t.internPlain($0.baseAddress!, count: s.utf8.count, readable: $0.count) }
        }
        #expect(known("feed\",") == nil, "nothing is known before it is remembered")
        let feed = remember("feed")
        let hit = try #require(known("feed\",\"x\""))
        #expect(hit.id == feed && hit.count == 4)
        // A different text after the quote is still the same string (found, for a string of six bytes
        // or more, whose slot depends on its own bytes only; a shorter one may miss, never mislead).
        let market = remember("marketplace")
        #expect(known("marketplace\"}")?.id == market)
        if let r = known("feed\"}") { #expect(r.id == feed && r.count == 4) }
        // A longer or shorter string is not the remembered one.
        #expect(known("feedback\",") == nil && known("fee\",") == nil && known("feed") == nil)
        // Strings that share their first six bytes take the same entry: asked for the other one, it answers nil.
        for (short, long) in [("search", "searches"), ("stories", "stories_x"), ("impression", "impressions"), ("add_to_", "add_to_cart")] {
            let a = remember(short)
            #expect(known(short + "\",")?.id == a)
            #expect(known(long + "\",") == nil, "\(long) is not \(short)")
            let b = remember(long)
            #expect(known(long + "\",")?.id == b && known(long + "\",")?.count == long.utf8.count)
            #expect(known(short + "\",") == nil, "\(short) is not \(long)")
        }
        // Strings of 16 bytes or more are interned but not remembered (with their quote they outgrow two words).
        let long = remember("exactly_16_bytes")
        #expect(known("exactly_16_bytes\",") == nil)
        #expect(t.bytes(long) == Array("exactly_16_bytes".utf8))
        // The empty string is remembered like any other.
        let empty = remember("")
        #expect(known("\",\"x\"")?.id == empty && known("\",\"x\"")?.count == 0)
    }

    /// One parser over many canonical and shuffled lines, as a log is read: the remembered types and
    /// surfaces carry from line to line, and every event still names exactly its line's strings.
    @Test func rememberedStringsCarryAcrossLinesWithoutMixingThemUp() {
        let vocabulary = ["", "f", "feed", "feeds", "feedback", "impression", "impressions", "add_to_cart", "add_to_carts",
                          "fifteen_chars_x", "exactly_16_bytes", "seventeen_bytes_x", "click"]
        var x: UInt64 = 5
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        let rules = ValidationRules(minTs: 0, maxTs: 1 << 40)
        let parser = EventParser(rules: rules), batch = EventBatch()
        var expected: [(String, String)] = []
        for k in 0..<5_000 {
            let type = vocabulary[Int(next() % UInt64(vocabulary.count))], surface = vocabulary[Int(next() % UInt64(vocabulary.count))]
            var members = [#""event_id":\#(k)"#, #""ts":\#(1000 + k)"#, #""user_id":\#(next() % 50)"#, #""item_id":\#(next())"#,
                           #""type":"\#(type)""#, #""surface":"\#(surface)""#]
            if k % 3 == 0 { members.append(#""dwell_ms":\#(next() % 5000)"#) }
            if k % 4 == 1 { members.swapAt(0, 5) }
            let line = Array(("{" + members.joined(separator: ",") + "}").utf8)
            // In a window, as the reader offers lines, followed by the next line's start.
            let window = line + Array("\n{\"event_id\":1,\"ts\":".utf8)
            let took = window.withUnsafeBufferPointer { w -> Int in
                let c = parser.parseCanonical(w.baseAddress!, available: w.count, lineNumber: k + 1, into: batch)
                if c > 0 { return c }
                let r = parser.parseGeneral(UnsafeBufferPointer(start: w.baseAddress!, count: line.count), lineNumber: k + 1, into: batch)
                return r == nil ? line.count + 1 : 0
            }
            #expect(took == line.count + 1, "\(String(decoding: line, as: UTF8.self))")
            expected.append((type, surface))
        }
        #expect(batch.count == expected.count)
        for (e, (type, surface)) in zip(batch.events, expected) {
            #expect(parser.types.bytes(e.type) == Array(type.utf8) && parser.surfaces.bytes(e.surface) == Array(surface.utf8),
                    "line \(e.line): expected \(type)/\(surface)")
        }
        #expect(parser.types.count == Set(expected.map(\.0)).count)
    }
}
