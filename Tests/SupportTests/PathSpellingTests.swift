import Support
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The spelling of path bytes: readable, one per path, and back to the same bytes.
@Suite struct PathSpellingTests {
    @Test func utf8StaysOtherBytesControlsAndBackslashesAreEscaped() {
        #expect(PathSpelling.spell(Array("logs/été.jsonl".utf8)) == "logs/été.jsonl")
        #expect(PathSpelling.spell(Array("day-".utf8) + [0xE9] + Array(".jsonl".utf8)) == "day-\\xE9.jsonl")
        #expect(PathSpelling.spell([0x61, 0x5C, 0x62]) == "a\\\\b")
        #expect(PathSpelling.spell([0x61, 0x09, 0x0A, 0x7F]) == "a\\x09\\x0A\\x7F")
        // Ill-formed UTF-8: a lone lead, an overlong form, an encoded surrogate, a cut sequence.
        #expect(PathSpelling.spell([0xC3, 0x28]) == "\\xC3(")
        #expect(PathSpelling.spell([0xC0, 0xAF]) == "\\xC0\\xAF")
        #expect(PathSpelling.spell([0xED, 0xA0, 0x80]) == "\\xED\\xA0\\x80")
        #expect(PathSpelling.spell([0x61, 0xE2, 0x82]) == "a\\xE2\\x82")
    }

    @Test func everySpellingGivesBackItsBytesAndDistinctBytesSpellDistinctly() {
        var x: UInt64 = 11
        var seen: [String: [UInt8]] = [:]
        for _ in 0..<5000 {
            x = fmix64(x &+ 1)
            let n = Int(x % 12)
            var b: [UInt8] = []
            for k in 0..<n {
                let r = fmix64(x &+ UInt64(k))
                // Mostly the bytes that matter: backslash, 'x', hex digits, UTF-8 leads and continuations.
                b.append(r % 3 == 0 ? [0x5C, 0x78, 0x45, 0x39, 0xC3, 0xA9, 0xE9, 0x2F][Int(r >> 8) % 8] : UInt8(1 + (r >> 16) % 255))
            }
            let s = PathSpelling.spell(b)
            #expect(PathSpelling.bytes(s) == b, "\(b) → \(s)")
            if let other = seen[s] { #expect(other == b, "\(other) and \(b) share \(s)") }
            seen[s] = b
        }
    }

    @Test func aTypedPathMeansWhatItSaysExceptForTheTwoEscapes() {
        #expect(PathSpelling.bytes("logs/a\\b") == Array("logs/a\\b".utf8), "a backslash before anything else is itself")
        #expect(PathSpelling.bytes("day-\\xe9.jsonl") == Array("day-".utf8) + [0xE9] + Array(".jsonl".utf8))
        #expect(PathSpelling.bytes("a\\\\b") == [0x61, 0x5C, 0x62])
        #expect(PathSpelling.bytes("end\\") == Array("end\\".utf8) && PathSpelling.bytes("\\xZ1") == Array("\\xZ1".utf8))
        #expect(PathSpelling.cString("a\\xE9") == [0x61, CChar(bitPattern: 0xE9), 0])
    }
}

/// File names that are not UTF-8: listed under a spelling that prints readably and opens the same
/// file (docs/data.md, "File names").
@Suite struct NonUTF8FileNameTests {
    static let name: [UInt8] = Array("day-".utf8) + [0xE9] + Array(".jsonl".utf8)

    @Test func aListedNameThatIsNotUTF8IsSpelledEscapedAndTheSpellingOpensTheFile() throws {
        let dir = TempDirectory()
        dir.write(rawName: NonUTF8FileNameTests.name, Array("hello\n".utf8))
        dir.write(rawName: Array("plain.jsonl".utf8), [])
        #expect(try Files.list(dir.path) == ["day-\\xE9.jsonl", "plain.jsonl"])
        let path = dir.file("day-\\xE9.jsonl")
        #expect(try Files.readAll(path) == Array("hello\n".utf8))
        #expect(try Files.status(path).size == 6)
        #expect(Files.identity(path)?.isRegular == true && Files.exists(path))
        #expect(try MappedFile(path: path).bytes.count == 6)
        #expect(try Files.absolutePath(path) == (try Files.absolutePath(dir.path)) + "/day-\\xE9.jsonl")
        // Written through the spelling, the file's name is the bytes it stands for.
        try Files.writeAtomically(dir.file("out-\\xFF.txt"), [1, 2])
        #expect(try Files.list(dir.path).contains("out-\\xFF.txt"))
    }
}
