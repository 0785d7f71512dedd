#if canImport(Glibc)
import Glibc
#endif
import Events
import Foundation
import Store
import Support
import Testing
import TestSupport

/// Log files whose names are not UTF-8 (byte E9): found by a scan or named on the command line by
/// their bytes, ingested like any other, printed escaped (`day-\xE9.jsonl`) wherever a path is
/// printed or recorded, and known again by that spelling (docs/data.md, "File names").
@Suite struct NonUTF8PathTests {
    static let name: [UInt8] = Array("day-".utf8) + [0xE9] + Array(".jsonl".utf8)
    static let lines = [eventLine(user: 5, id: "1", ts: 1000), eventLine(user: 6, id: "2", ts: 1001)].joined(separator: "\n") + "\n"

    func ingest(_ dir: TempDirectory, _ store: String, _ inputs: [[UInt8]]) throws -> ChildProcess {
        let args = ["ingest", "--history-store", store, "--conversion-types", "purchase", "--min-ts", "0", "--max-ts", "4000000000"]
        let p = try ChildProcess(ChildProcess.llatte, rawArguments: args.map { Array($0.utf8) } + inputs,
                                 outputPrefix: dir.file("ingest-\(UUID().uuidString.prefix(8))"))
        p.wait()
        return p
    }

    /// The process's stderr, which must be UTF-8 whatever the file names.
    func stderr(_ p: ChildProcess) -> String {
        let text = String(validating: p.stderrBytes, as: UTF8.self)
        #expect(text != nil, "stderr is not UTF-8: \(p.stderrBytes)")
        return text ?? ""
    }

    @Test func aScannedLogIsIngestedPrintedEscapedRecordedAndKnownAgainBySpelling() throws {
        let dir = TempDirectory()
        try Files.makeDirectories(dir.file("logs"))
        dir.write(rawName: Array("logs/".utf8) + NonUTF8PathTests.name, Array(NonUTF8PathTests.lines.utf8))
        let spelled = dir.file("logs/day-\\xE9.jsonl")
        let first = try ingest(dir, dir.file("h.db"), [Array(dir.file("logs").utf8)])
        #expect(first.wait() == 0 && first.stdout.contains("files ingested=1 skipped=0 rejected=0 new_events=2"), "\(first.stdout)\(stderr(first))")
        #expect(stderr(first).contains("ingested \(spelled): 2 new events"), "\(stderr(first))")
        // The history store records the spelling, and a later run knows the file by it.
        let db = try Database(path: dir.file("h.db"), readOnly: true, create: false)
        let s = try db.prepare("SELECT path FROM files")
        #expect(try s.step() && s.text(0) == spelled)
        let again = try ingest(dir, dir.file("h.db"), [Array(dir.file("logs").utf8)])
        #expect(again.wait() == 0 && again.stdout.contains("files ingested=0 skipped=1"), "\(again.stdout)\(stderr(again))")
        #expect(stderr(again).contains("skipped \(spelled): already ingested"), "\(stderr(again))")
        // The printed spelling, pasted back on the command line, is the same file.
        let pasted = try ingest(dir, dir.file("h.db"), [Array(spelled.utf8)])
        #expect(pasted.wait() == 0 && pasted.stdout.contains("files ingested=0 skipped=1"), "\(pasted.stdout)\(stderr(pasted))")
    }

    @Test func aLogNamedOnTheCommandLineByItsBytesIsIngested() throws {
        let dir = TempDirectory()
        try Files.makeDirectories(dir.file("logs"))
        dir.write(rawName: Array("logs/".utf8) + NonUTF8PathTests.name, Array(NonUTF8PathTests.lines.utf8))
        let p = try ingest(dir, dir.file("h.db"), [Array(dir.file("logs/").utf8) + NonUTF8PathTests.name])
        #expect(p.wait() == 0 && p.stdout.contains("files ingested=1"), "\(p.stdout)\(stderr(p))")
        #expect(stderr(p).contains("ingested \(dir.file("logs/day-\\xE9.jsonl")): 2 new events"), "\(stderr(p))")
    }

    @Test func warningsAndRejectionsPrintSuchANameEscaped() throws {
        let dir = TempDirectory()
        try Files.makeDirectories(dir.file("logs"))
        let fifo = Array(dir.file("logs/pipe-").utf8) + [0xE9] + Array(".jsonl".utf8)
        #expect((fifo + [0]).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { mkfifo($0.baseAddress!, 0o644) } } == 0)
        let compressed = LZ4FrameWriter.compress(Array(NonUTF8PathTests.lines.utf8))
        dir.write(rawName: Array("logs/bad-".utf8) + [0xE9] + Array(".jsonl.lz4".utf8), compressed + [0x78])
        let p = try ingest(dir, dir.file("h.db"), [Array(dir.file("logs").utf8)])
        #expect(p.wait() == 3)
        let err = stderr(p)
        #expect(err.contains("skipped \(dir.file("logs/pipe-\\xE9.jsonl")): not a regular file"), "\(err)")
        #expect(err.contains("rejected \(dir.file("logs/bad-\\xE9.jsonl.lz4")): trailing bytes after the last frame at offset \(compressed.count)"), "\(err)")
    }

    /// `path` given as raw bytes to a C call taking a path.
    func withRaw<R>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (path + [0]).withUnsafeBufferPointer { p in p.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) } }
    }

    @Test func aPipelineRunRecordsAndFollowsSuchPathsEscaped() throws {
        let w = try PipelineWorld(users: 8)
        w.dir.write(rawName: Array("logs/".utf8) + NonUTF8PathTests.name, Array(NonUTF8PathTests.lines.utf8))
        // The checkpoint is reached through a link to a directory whose name is not UTF-8: the
        // backfill records its real path, which nightly follows.
        let ck = Array(w.dir.file("ck-").utf8) + [0xE9]
        #expect(withRaw(ck) { mkdir($0, 0o755) } == 0)
        for file in ["config.json", "model.safetensors", "selftest.json"] {
            w.dir.write(rawName: Array("ck-".utf8) + [0xE9, 0x2F] + Array(file.utf8), try Files.readAll(Goldens.directory("small") + "/" + file))
        }
        #expect(withRaw(ck) { symlink($0, w.dir.file("ck-link")) } == 0)
        w.writePipeline("backfill", out: "out", checkpoint: w.dir.file("ck-link"))
        w.writePipeline("nightly", out: "out", checkpoint: nil)
        let backfill = try w.run("backfill")
        #expect(backfill.wait() == 0, "\(stderr(backfill))")
        #expect(stderr(backfill).contains("ingested \(w.dir.file("logs/day-\\xE9.jsonl")): 2 new events"), "\(stderr(backfill))")
        // The run's recorded input list names the file by its spelling.
        let db = try Database(path: w.dir.file("out/embeddings.db"), readOnly: true, create: false)
        let lines = try db.prepare("SELECT line FROM input_files WHERE line LIKE 'events%'")
        var recorded: [String] = []
        while try lines.step() { recorded.append(lines.text(0)) }
        #expect(recorded.contains { $0.hasPrefix("events\t\(w.dir.file("logs/day-\\xE9.jsonl"))\t") }, "\(recorded)")
        let real = try Files.absolutePath(w.dir.path) + "/ck-\\xE9"
        let list = try ChildProcess(ChildProcess.llatte, ["model", "list", "--embedding-store", w.dir.file("out/embeddings.db")],
                                    outputPrefix: w.dir.file("model-list"))
        #expect(list.wait() == 0 && list.stdout.contains(real), "\(list.stdout)")
        // Nightly follows the recorded checkpoint and knows the log by its spelling.
        let nightly = try w.run("nightly")
        #expect(nightly.wait() == 0 && nightly.stdout.contains("files ingested=0 skipped=3"), "\(nightly.stdout)\(stderr(nightly))")
        // A failure about such a path is recorded, and listed, escaped.
        #expect(withRaw(ck + Array("/selftest.json".utf8)) { unlink($0) } == 0)
        let failing = try w.run("nightly")
        #expect(failing.wait() == 1 && stderr(failing).contains("\(real)/selftest.json: missing"), "\(stderr(failing))")
        let runs = try ChildProcess(ChildProcess.llatte, ["runs", "--embedding-store", w.dir.file("out/embeddings.db")], outputPrefix: w.dir.file("runs"))
        #expect(runs.wait() == 0 && runs.stdout.contains("(\(real)/selftest.json: missing"), "\(runs.stdout)")
    }
}
