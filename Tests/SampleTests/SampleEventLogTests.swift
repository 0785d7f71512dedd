import Events
import Sample
import Support
import Testing
import TestSupport

/// The event files, read back with the real reader and parser: bad lines, late events, duplicates,
/// noise, LZ4 framing and the shape of valid lines.
@Suite struct SampleEventLogTests {
    @Test func everyReasonCodeIsPresentAndTheParserAgreesWithTheManifest() throws {
        let dir = TempDirectory("sample-bad")
        let m = try generate(into: dir.path, users: 40, days: 4, seed: 17) {
            $0.badRate = 0.2
            $0.writeTruth = false
        }
        for (i, kind) in BadLineKind.allCases.enumerated() {
            #expect(m.counts.badByKind[i] > 0, "no bad line of kind \(kind)")
        }
        let files = try parseEventFiles(dir.path, m)
        var byReason: [ReasonCode: Int] = [:]
        for f in files { for r in f.rejections { byReason[r.reason, default: 0] += 1 } }
        // A trailing comma (`{…,}`) is not JSON: no accepted line may end with one.
        #expect(files.flatMap(\.eventLines).filter { $0.suffix(2) == [0x2C, 0x7D] }.isEmpty)
        for reason in ReasonCode.allCases {
            var expected = 0
            for (i, kind) in BadLineKind.allCases.enumerated() where kind.reason == reason { expected += m.counts.badByKind[i] }
            #expect(expected > 0, "the generator wrote no line for \(reason)")
            let parsed = byReason[reason, default: 0]
            #expect(parsed == expected, "\(reason): parser \(parsed), manifest \(expected)")
        }
        #expect(files.reduce(0) { $0 + $1.events.count } == m.counts.eventLines)
        #expect(files.reduce(0) { $0 + $1.lines } == m.counts.lines)
        let badShare = Double(m.counts.badLines) / Double(m.counts.lines)
        #expect(badShare > 0.17 && badShare < 0.23)
    }

    @Test func defaultBadRateIsAFewPerThousand() throws {
        let dir = TempDirectory("sample-bad-default")
        let m = try generate(into: dir.path, users: 150, days: 10, seed: 4) { $0.writeTruth = false }
        let share = Double(m.counts.badLines) / Double(m.counts.lines)
        #expect(share > 0.002 && share < 0.005)
        #expect(m.options.resolvedMinTs == SampleOptions.defaultStartTs - 365 * 86_400)
        #expect(m.options.resolvedMaxTs == SampleOptions.defaultStartTs + 40 * 86_400)
    }

    @Test func lateEventsArriveOneToThreeDaysLateAndNeverEarly() throws {
        let dir = TempDirectory("sample-late")
        let m = try generate(into: dir.path, users: 40, days: 6, seed: 23) {
            $0.lateRate = 0.1
            $0.writeTruth = false
        }
        #expect(m.counts.lateEvents > 0)
        let start = m.options.startTs
        var lateLines = 0
        for (fileDay, f) in try parseEventFiles(dir.path, m).enumerated() {
            #expect(f.path.hasSuffix("events/2026-10-0\(fileDay + 1).jsonl.lz4"))
            for e in f.events {
                let tsDay = Int((e.ts - start) / 86_400)
                #expect(tsDay <= fileDay, "an event in the file of a day before its ts")
                #expect(fileDay - tsDay <= 4)
                if tsDay < fileDay { lateLines += 1 }
            }
        }
        // Late lines are the late events plus repeats that went to a later file than their ts.
        #expect(lateLines >= m.counts.lateEvents && lateLines <= m.counts.lateEvents + m.counts.duplicates)
        let share = Double(m.counts.lateEvents) / Double(m.counts.distinctEvents)
        #expect(share > 0.06 && share < 0.1)
    }

    @Test func duplicatesAreExactRepeatsOfTheSameUserAndEventID() throws {
        let dir = TempDirectory("sample-dup")
        let m = try generate(into: dir.path, users: 40, days: 5, seed: 31) {
            $0.duplicateRate = 0.02
            $0.writeTruth = false
        }
        struct Key: Hashable { let user: UInt64; let id: EventID }
        var first: [Key: (file: Int, line: [UInt8])] = [:]
        var repeats = 0, acrossFiles = 0
        for (n, f) in try parseEventFiles(dir.path, m).enumerated() {
            for (e, line) in zip(f.events, f.eventLines) {
                let k = Key(user: e.user, id: e.id)
                if let seen = first[k] {
                    repeats += 1
                    if seen.file != n { acrossFiles += 1 }
                    #expect(seen.line == line, "a repeat is not byte-identical")
                } else {
                    first[k] = (n, line)
                }
            }
        }
        #expect(repeats == m.counts.duplicates)
        #expect(acrossFiles == m.counts.duplicatesAcrossFiles)
        #expect(acrossFiles > 0 && acrossFiles < repeats)
        #expect(first.count == m.counts.distinctEvents)
    }

    @Test func noiseChangesTheSpellingButNotTheEvents() throws {
        let clean = TempDirectory("sample-clean"), noisy = TempDirectory("sample-noisy")
        let mc = try generate(into: clean.path, users: 30, days: 3, seed: 8) { $0.writeTruth = false }
        let mn = try generate(into: noisy.path, users: 30, days: 3, seed: 8) {
            $0.writeTruth = false
            $0.escapeRate = 1
            $0.shuffleKeysRate = 1
            $0.nestedUnknownRate = 1
        }
        let fc = try parseEventFiles(clean.path, mc), fn = try parseEventFiles(noisy.path, mn)
        #expect(fc.count == fn.count)
        var escaped = 0, nested = 0, sawSurrogatePair = 0
        for (c, n) in zip(fc, fn) {
            #expect(n.rejections.count == c.rejections.count)
            #expect(n.events == c.events, "\(n.path): noisy lines decode to other events")
            #expect(n.eventLines != c.eventLines)
            for line in n.eventLines {
                let text = String(decoding: line, as: UTF8.self)
                if text.contains("\\u00") { escaped += 1 }
                // Keys may be escaped too, so look for the unknown fields after decoding.
                let object = try JSONValue.parse(line)
                if object["ctx"] != nil && object["q"] != nil { nested += 1 }
                if text.contains("\\ud83d\\ude00") || text.contains("\\uD83D\\uDC5F") { sawSurrogatePair += 1 }
            }
        }
        let total = mn.counts.eventLines
        #expect(escaped == total && nested == total)
        #expect(sawSurrogatePair > 0)
    }

    @Test func filesAreLZ4FramesOfWholeLinesMatchingTheManifest() throws {
        let dir = TempDirectory("sample-lz4")
        let m = try generate(into: dir.path, users: 60, days: 3, seed: 12) { $0.frameBytes = 1 << 16 }
        var multiFrame = 0
        for f in m.eventFiles + [m.truthImpressions!] {
            let bytes = try Files.readAll(dir.file(f.path))
            #expect(bytes.count == f.compressedBytes)
            #expect(Array(bytes.prefix(4)) == [0x04, 0x22, 0x4D, 0x18], "\(f.path) does not start with the LZ4 frame magic")
            let frames = try #require(decodeLZ4Frames(bytes), "\(f.path) does not decompress")
            #expect(frames.count == f.frames)
            if frames.count > 1 { multiFrame += 1 }
            for frame in frames { #expect(frame.isEmpty || frame.last == 0x0A, "a frame ends inside a line") }
            let content = frames.flatMap { $0 }
            #expect(content.count == f.uncompressedBytes)
            #expect(content.filter { $0 == 0x0A }.count == f.lines)
            #expect(SHA256Hasher.digest(content).hex == f.contentSHA256)
        }
        #expect(multiFrame > 0)
        // A corrupted byte is caught by the frame checksum.
        var bytes = try Files.readAll(dir.file(m.eventFiles[0].path))
        bytes[bytes.count / 2] ^= 0x40
        #expect(decodeLZ4Frames(bytes) == nil)
    }

    @Test func validLinesHaveTheDocumentedShape() throws {
        let dir = TempDirectory("sample-shape")
        let m = try generate(into: dir.path, users: 120, days: 4, seed: 2) { $0.writeTruth = false }
        let events = try parseEventFiles(dir.path, m).flatMap(\.events)
        let types = Set(events.map { String(decoding: $0.type, as: UTF8.self) })
        let surfaces = Set(events.map { String(decoding: $0.surface, as: UTF8.self) })
        #expect(types.isSuperset(of: ["impression", "click", "like", "share", "save", "add_to_cart", "purchase",
                                      "lead", "app_install"]))
        #expect(surfaces.isSuperset(of: ["feed", "reels", "stories", "marketplace", "search", "video"]))
        var stringIDs = 0
        for e in events { if case .string = e.id { stringIDs += 1 } }
        #expect(stringIDs > 0 && stringIDs * 3 < events.count, "event ids are mostly integers, some strings")
        #expect(events.contains { $0.item > UInt64(Int64.max) }, "no item id above 2^63")
        #expect(events.contains { $0.dwell != $0.dwell.rounded() }, "no fractional dwell_ms")
        #expect(events.allSatisfy { $0.dwell >= 0 && $0.value >= 0 })
        let purchases = events.filter { $0.type == Array("purchase".utf8) }
        #expect(!purchases.isEmpty && purchases.allSatisfy { $0.value > 0 })
        #expect(purchases.contains { $0.value != $0.value.rounded() }, "purchase values are prices with cents")
        let start = m.options.startTs
        #expect(events.allSatisfy { $0.ts >= start && $0.ts < start + 4 * 86_400 })
    }
}
