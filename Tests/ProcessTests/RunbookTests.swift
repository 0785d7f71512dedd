#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Store
import Support
import Synchronization
import Testing
import TestSupport

/// docs/operations.md's rehearsal, run command by command against sample-data, while readers
/// (`llatte get` and the Python reader of docs/store.md) poll the store and must never fail.
@Suite struct RunbookTests {
    /// The ```sh blocks of the "Rehearsal on sample-data" section, in order.
    static func rehearsal() throws -> [String] {
        let doc = try String(contentsOfFile: StoreCommandTests.repoRoot + "/docs/operations.md", encoding: .utf8)
        guard let start = doc.range(of: "## Rehearsal on sample-data") else { throw POSIXError(.ENOENT) }
        let end = doc.range(of: "\n## ", range: start.upperBound..<doc.endIndex)?.lowerBound ?? doc.endIndex
        let section = doc[start.upperBound..<end]
        return section.components(separatedBy: "```sh\n").dropFirst().map { String($0.components(separatedBy: "```")[0]) }
    }

    /// Polls both readers for one user until stopped; counts the reads and keeps the failures.
    final class Poller: @unchecked Sendable {
        let stopped = Atomic<Bool>(false)
        let lock = NSLock()
        var reads = 0
        var failures: [String] = []
        let done = DispatchSemaphore(value: 0)

        func start(store: String, user: UInt64, reader: String, scratch: String) {
            Thread {
                var i = 0
                while !self.stopped.load(ordering: .relaxed) {
                    i += 1
                    for (name, exe, args) in [("llatte get", ChildProcess.llatte, ["get", String(user), "--embedding-store", store]),
                                              ("python reader", "/usr/bin/env", ["python3", reader, store, String(user)])] {
                        guard let p = try? ChildProcess(exe, args, outputPrefix: "\(scratch)/poll-\(i % 2)") else { continue }
                        let code = p.wait()
                        self.lock.lock()
                        self.reads += 1
                        if code != 0 { self.failures.append("\(name) exit \(code): \(p.stderr.prefix(300))") }
                        self.lock.unlock()
                    }
                }
                self.done.signal()
            }.start()
        }

        func stop() { stopped.store(true, ordering: .relaxed); done.wait() }
    }

    @Test func theRolloutRunbookRunsAsWrittenAndReadersAlwaysFindAnActiveVersion() throws {
        let blocks = try RunbookTests.rehearsal()
        #expect(blocks.count >= 8, "the rehearsal lost steps: \(blocks.count)")
        let dir = TempDirectory("llatte-runbook")
        let root = StoreCommandTests.repoRoot
        #expect(symlink(root + "/sample-data", dir.file("sample-data")) == 0)
        for f in try Files.list(root + "/pipelines") { dir.write("pipelines/\(f)", try Files.readAll(root + "/pipelines/\(f)")) }
        try Files.makeDirectories(dir.file("bin"))
        #expect(symlink(ChildProcess.llatte, dir.file("bin/llatte")) == 0)
        let reader = dir.write("reader.py", text: try StoreCommandTests.pythonReader())
        let env = ["PATH": dir.file("bin") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        let store = dir.file("out/embeddings.db"), user: UInt64 = 100000000000712
        let poller = Poller()
        defer { if !poller.stopped.load(ordering: .relaxed) { poller.stop() } }

        for (i, block) in blocks.enumerated() {
            let script = dir.write("step\(i).sh", text: "set -euo pipefail\ncd '\(dir.path)'\n" + block)
            let p = try ChildProcess("/bin/bash", [script], environment: env, outputPrefix: dir.file("step\(i)"))
            let code = p.wait()
            try #require(code == 0, "runbook step \(i) exited \(code):\n\(block)\n\(p.stdout.suffix(2000))\n\(p.stderr.suffix(2000))")
            if i == 0 {   // V1 serves from here on: the readers start and must never fail
                try Files.makeDirectories(dir.file("polls"))
                poller.start(store: store, user: user, reader: reader, scratch: dir.file("polls"))
            }
            if block.contains("backfill-v2.yaml --promote") && !block.contains("pipelines/backfill.yaml") {
                // The conversion ingested while V2 waited is in V2 when it becomes active.
                let s = try EmbeddingStore(path: store, create: false)
                let h = try #require(try HistoryStore(path: dir.file("out/history.db"), settings: nil).userState(user))
                #expect(try s.activeVersion()?.version == "sample-v2")
                #expect(try s.row(user, version: "sample-v2")?.historyVersion == h.historyVersion)
                #expect(p.stdout.contains("promote: model version sample-v2 is active"), "\(p.stdout)")
            }
        }
        poller.stop()
        #expect(poller.failures.isEmpty, "readers failed during the rollout: \(poller.failures.prefix(3))")
        #expect(poller.reads >= 20, "the readers polled only \(poller.reads) times")

        // What the runbook leaves: V2 active, V1 dropped, every status change logged.
        let s = try EmbeddingStore(path: store, create: false)
        #expect(try s.versions().map(\.version) == ["sample-v2"])
        #expect(try s.activeVersion()?.coverage == 2000)
        #expect(try s.statusLog(version: "sample-v1").last?.to == "dropped")

        // The drift report of the sample: a self-compare is 1 everywhere, and the v1→v2 page renders.
        let selfCompare = try ChildProcess(ChildProcess.llatte, ["model", "compare", "sample-v2", "sample-v2", "--embedding-store", store, "--json"],
                                           outputPrefix: dir.file("self-compare"))
        #expect(selfCompare.wait() == 0, "\(selfCompare.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(selfCompare.stdout.utf8)) as? [String: Any])
        let values = RunbookTests.numbers(report, under: ["aligned_cosine", "best_match_cosine", "norm_ratio", "user_mean_aligned_cosine"])
        #expect(values.count >= 40 && values.allSatisfy { $0 == 1 }, "self-compare is not 1 everywhere: \(values.prefix(20))")
        let page = dir.file("out/rollout/compare.html")
        #expect(Files.exists(page))
        let png = try CompareScreenshot.render(html: page, name: "sample-v1-vs-v2")
        #expect(try CompareScreenshot.distinctColors(png) > 50, "the screenshot of the sample's drift report looks blank: \(png)")

        // The sample store exports and round-trips exactly: every user of the npy export, loaded by
        // docs/store.md's loader, equals `llatte get --json` of that user.
        let export = try ChildProcess(ChildProcess.llatte, ["export", "--embedding-store", store, "--out", dir.file("export"), "--format", "npy"],
                                      outputPrefix: dir.file("export"))
        #expect(export.wait() == 0, "\(export.stderr)")
        dir.write("export_loader.py", text: try ExportTests.exportingDocBlock("```python"))
        let dumped = try ChildProcess("/usr/bin/env", ["python3", dir.write("dump.py", text: ExportTests.dumpNpy), dir.path, dir.file("export")],
                                      outputPrefix: dir.file("dump"))
        #expect(dumped.wait() == 0, "\(dumped.stderr)")
        let rows = dumped.stdout.split(separator: "\n").dropFirst().map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let ids = rows.map { ($0["user_id"] as! NSNumber).uint64Value }
        #expect(rows.count == 2000 && ids == ids.sorted())
        let get = try ChildProcess(ChildProcess.llatte, ["get", "--users-file", dir.write("ids.txt", text: ids.map(String.init).joined(separator: "\n")),
                                                         "--embedding-store", store, "--json"], outputPrefix: dir.file("get-all"))
        #expect(get.wait() == 0, "\(get.stderr)")
        let got = get.stdout.split(separator: "\n").map(String.init)
        try #require(got.count == rows.count)
        var differing = 0
        for (row, line) in zip(rows, got) {
            let g = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let same = ints(row["codes"]) == ints(g["codes"])
                && (row["scale_bits"] as! [NSNumber]).map(\.uint32Value) == jsonArrayText(line, "scales").map { Float(String($0))!.bitPattern }
                && (row["as_of"] as! NSNumber).int64Value == ((g["as_of"] as? NSNumber)?.int64Value ?? -1)
                && (row["history_version"] as! NSNumber).int64Value == (g["history_version"] as! NSNumber).int64Value
                && (row["n_events"] as! NSNumber).intValue == (g["n_events"] as! NSNumber).intValue
            if !same { differing += 1 }
        }
        #expect(differing == 0, "\(differing) of \(rows.count) exported users differ from llatte get")
    }

    /// Every quantile, min, max and mean found under the given keys of a drift report (recursively).
    static func numbers(_ json: Any, under keys: Set<String>, inside: Bool = false) -> [Double] {
        switch json {
        case let d as [String: Any]:
            return d.flatMap { k, v -> [Double] in
                let now = inside || keys.contains(k)
                if now, ["p1", "p5", "p50", "p95", "p99", "min", "max", "mean"].contains(k), let n = v as? NSNumber { return [n.doubleValue] }
                return numbers(v, under: keys, inside: now)
            }
        case let a as [Any]: return a.flatMap { numbers($0, under: keys, inside: inside) }
        default: return []
        }
    }
}
