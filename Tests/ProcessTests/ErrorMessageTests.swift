#if canImport(Glibc)
import Glibc
#endif
import Events
import Foundation
import Support
import Testing
import TestSupport

/// What the real binary prints when it refuses something: values as JSON, each path once, a
/// directory called one, LZ4 problems at their offset, pipeline paths with their file and key.
@Suite struct ErrorMessageTests {
    /// A copy of the `small` golden checkpoint at `dir/name`, its config.json edited.
    func checkpoint(_ dir: TempDirectory, _ name: String, config edit: (String) -> String = { $0 }) throws -> String {
        for file in ["config.json", "model.safetensors", "selftest.json"] {
            let bytes = try Files.readAll(Goldens.directory("small") + "/" + file)
            dir.write("\(name)/\(file)", file == "config.json" ? Array(edit(String(decoding: bytes, as: UTF8.self)).utf8) : bytes)
        }
        return dir.file(name)
    }

    func llatte(_ dir: TempDirectory, _ arguments: [String]) throws -> (code: Int32, stderr: String) {
        let p = try ChildProcess(ChildProcess.llatte, arguments, outputPrefix: dir.file("p-\(UUID().uuidString.prefix(8))"))
        let code = p.wait()
        return (code, p.stderr)
    }

    @Test func verifyQuotesConfigValuesAsJSONNamesPathsOnceAndCallsADirectoryOne() throws {
        let dir = TempDirectory()
        let format = try checkpoint(dir, "format") { $0.replacingOccurrences(of: "\"llatte-checkpoint-v1\"", with: "\"llx\"") }
        var r = try llatte(dir, ["verify", format])
        #expect(r.code == 1 && r.stderr.contains("\(format)/config.json: field format: \"llatte-checkpoint-v1\" expected, found \"llx\""), "\(r.stderr)")
        for (value, shown) in [("\"llatte\"", "\"llatte\""), ("-16384", "-16384")] {
            let d = try checkpoint(dir, "d") { text in
                text.replacingOccurrences(of: #""d": *[0-9]+"#, with: "\"d\": \(value)", options: .regularExpression)
            }
            r = try llatte(dir, ["verify", d])
            #expect(r.code == 1 && r.stderr.contains("\(d)/config.json: field d: an integer in 1...65536 is required, found \(shown)"), "\(r.stderr)")
        }
        let missing = dir.file("nope")
        r = try llatte(dir, ["verify", missing])
        #expect(r.code == 1 && r.stderr.contains("llatte verify: \(missing)/config.json: open failed: No such file or directory"), "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: "config.json").count == 2, "the path once: \(r.stderr)")
        let weights = try checkpoint(dir, "weights")
        #expect(unlink(weights + "/model.safetensors") == 0)
        try Files.makeDirectories(weights + "/model.safetensors")
        r = try llatte(dir, ["verify", weights])
        #expect(r.code == 1 && r.stderr.contains("llatte verify: \(weights)/model.safetensors: is a directory, where a file is expected"), "\(r.stderr)")
    }

    @Test func ingestCallsAStrayByteTrailingAtItsOffsetNamingTheFileOnce() throws {
        let dir = TempDirectory()
        let compressed = LZ4FrameWriter.compress(Array((eventLine(user: 1, id: "1", ts: 1000) + "\n").utf8))
        let file = dir.write("logs/stray.jsonl.lz4", compressed + [0x78])
        let r = try llatte(dir, ["ingest", "--history-store", dir.file("h.db"), "--conversion-types", "purchase", "--min-ts", "0",
                                 "--max-ts", "4000000000", file])
        #expect(r.code == 3 && r.stderr.contains("rejected \(file): trailing bytes after the last frame at offset \(compressed.count)\n"), "\(r.stderr)")
    }

    @Test func runNamesThePipelineFileAndKeyOfAPathItCannotUse() throws {
        let w = try PipelineWorld(users: 8)
        let yaml = w.dir.file("missing-checkpoint.yaml")
        w.writePipeline("backfill", out: "out", name: "missing-checkpoint", checkpoint: w.dir.file("no-checkpoint"))
        var p = try w.run("missing-checkpoint")
        #expect(p.wait() == 1)
        #expect(p.stderr.contains("llatte run: \(yaml): checkpoint: \(w.dir.file("no-checkpoint"))/config.json: open failed: No such file or directory"), "\(p.stderr)")
        let events = w.dir.file("missing-events.yaml")
        w.writePipeline("backfill", out: "out", name: "missing-events", events: w.dir.file("no-logs"))
        p = try w.run("missing-events")
        #expect(p.wait() == 1)
        #expect(p.stderr.contains("llatte run: \(events): inputs.events: \(w.dir.file("no-logs")): open failed: No such file or directory"), "\(p.stderr)")
    }
}
