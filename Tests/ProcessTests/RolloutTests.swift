#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// Rolling out a second model version next to a serving one, as real `llatte` processes: the
/// promotion guard, `model drop`'s refusals, and no conversion lost across the switch.
@Suite struct RolloutTests {
    /// A world whose v1 (`golden-small`) was backfilled and is active, plus a second checkpoint
    /// `golden-small-v2` (the same weights under another model_version, so another identity).
    static func servingWorld() throws -> PipelineWorld {
        let w = try PipelineWorld()
        let p = try w.run("backfill")
        #expect(p.wait() == 0, "\(p.stderr)")
        #expect(try w.store().activeVersion()?.version == "golden-small")
        try w.makeCheckpoint(version: "golden-small-v2", at: "ck2")
        return w
    }

    func llatte(_ w: PipelineWorld, _ args: [String], tag: String = "cmd") throws -> ChildProcess {
        let p = try ChildProcess(ChildProcess.llatte, args, outputPrefix: w.dir.file("\(tag)-\(UUID().uuidString.prefix(6))"))
        p.wait()
        return p
    }

    func status(_ w: PipelineWorld, _ version: String) throws -> VersionStatus? { try w.store().version(version)?.status }

    @Test func aBackfillOverEmptyInputBuildsButDoesNotActivate() throws {
        let w = try RolloutTests.servingWorld()
        try Files.makeDirectories(w.dir.file("empty"))
        w.writePipeline("backfill", out: "out", name: "v2", checkpoint: w.dir.file("ck2"), events: w.dir.file("empty"),
                        historyStore: w.dir.file("h2/history.db"), features: false)
        let p = try w.run("v2")
        #expect(p.wait() == 3, "\(p.stdout)\(p.stderr)")
        #expect(p.stdout.contains("promote: model version golden-small-v2 not promoted:"), "\(p.stdout)")
        #expect(try status(w, "golden-small") == .active)
        #expect(try status(w, "golden-small-v2") == .ready)
        let get = try llatte(w, ["get", String(PipelineWorld.userID(1)), "--embedding-store", w.dir.file("out/embeddings.db")])
        #expect(get.wait() == 0 && get.stdout.contains("model_version golden-small "), "\(get.stderr)")
    }

    @Test func aBackfillThatRejectedAFileDoesNotActivate() throws {
        let w = try RolloutTests.servingWorld()
        w.dir.writeLines("logs/garbage.jsonl", (0..<50).map { "not json \($0)" })
        w.writePipeline("backfill", out: "out", name: "v2", checkpoint: w.dir.file("ck2"))
        let p = try w.run("v2")
        #expect(p.wait() == 3, "\(p.stdout)\(p.stderr)")
        #expect(p.stdout.contains("rejected 1 input file"), "\(p.stdout)")
        #expect(try status(w, "golden-small") == .active && status(w, "golden-small-v2") == .ready)
        // With the file fixed, a rerun promotes.
        try FileManager.default.removeItem(atPath: w.dir.file("logs/garbage.jsonl"))
        let again = try w.run("v2")
        #expect(again.wait() == 0, "\(again.stdout)\(again.stderr)")
        #expect(try status(w, "golden-small") == .retired && status(w, "golden-small-v2") == .active)
    }

    @Test func promoteNeverLeavesTheVersionReadyAndModelPromoteAppliesTheSameGuard() throws {
        let w = try RolloutTests.servingWorld()
        w.writePipeline("backfill", out: "out", name: "v2", checkpoint: w.dir.file("ck2"), promote: "never")
        let p = try w.run("v2")
        #expect(p.wait() == 0, "\(p.stdout)\(p.stderr)")
        #expect(p.stdout.contains("not promoted: promote: never"), "\(p.stdout)")
        #expect(try status(w, "golden-small-v2") == .ready)
        let store = ["--embedding-store", w.dir.file("out/embeddings.db")]
        // Without the history store the guard cannot tell whether conversions are missing.
        let blind = try llatte(w, ["model", "promote", "golden-small-v2"] + store)
        #expect(blind.wait() == 3 && blind.stderr.contains("give the history store"), "\(blind.stderr)")
        // A conversion ingested since (by a refresh into v1) makes v2 behind: refused.
        let convert = PipelineWorld.userID(6)
        w.dir.writeLines("logs/day7.jsonl", [eventLine(user: convert, id: "\"c7\"", ts: 1_790_700_000, item: 1004, type: "purchase")])
        #expect(try w.run("refresh").wait() == 0)
        let behind = try llatte(w, ["model", "promote", "golden-small-v2", "--history-store", w.dir.file("out/history.db")] + store)
        #expect(behind.wait() == 3 && behind.stderr.contains("behind the history store for 1 users"), "\(behind.stderr)")
        #expect(try status(w, "golden-small") == .active)
        // --force promotes past it and is recorded.
        let forced = try llatte(w, ["model", "promote", "golden-small-v2", "--force", "--history-store", w.dir.file("out/history.db")] + store)
        #expect(forced.wait() == 0, "\(forced.stderr)")
        #expect(try status(w, "golden-small") == .retired && status(w, "golden-small-v2") == .active)
        let log = try w.store().statusLog(version: "golden-small-v2")
        #expect(log.last?.to == "active" && log.last?.forced == true && (log.last?.reason ?? "").contains("behind"))
    }

    @Test func aMergeOfOneOfTwoShardsDoesNotPromote() throws {
        let w = try RolloutTests.servingWorld()
        var stores: [String] = [], histories: [String] = []
        for k in 0..<2 {
            w.writePipeline("backfill", out: "shard\(k)", name: "v2-shard\(k)", checkpoint: w.dir.file("ck2"))
            let p = try w.run("v2-shard\(k)", extra: ["--shard", "\(k)/2"])
            #expect(p.wait() == 0, "\(p.stderr)")
            #expect(p.stdout.contains("not promoted: shard \(k)/2 of a sharded backfill"), "\(p.stdout)")
            stores.append(w.dir.file("shard\(k)/embeddings.db"))
            histories.append(w.dir.file("shard\(k)/history.db"))
        }
        let into = ["merge", "--into", w.dir.file("out/embeddings.db"), "--promote"]
        let half = try llatte(w, into + ["--history-store", histories[0], stores[0]])
        #expect(half.wait() == 3, "\(half.stdout)\(half.stderr)")
        #expect(half.stderr.contains("backfill is incomplete: shards 0/2 completed"), "\(half.stderr)")
        #expect(try status(w, "golden-small") == .active && status(w, "golden-small-v2") == .building)
        let forcedLess = try llatte(w, into + stores)   // both shards, but no history stores to check against
        #expect(forcedLess.wait() == 3 && forcedLess.stderr.contains("give the history store"), "\(forcedLess.stderr)")
        #expect(try status(w, "golden-small-v2") == .ready)
        // A conversion ingested into shard 1's history store since its backfill: the sharded version is
        // behind, and the remedy named is the shards' backfills and the merge, not one backfill.
        let convert = try #require((0..<w.users).map(PipelineWorld.userID).first { Shard(index: 1, count: 2).owns($0) })
        w.dir.writeLines("logs/day7.jsonl", [eventLine(user: convert, id: "\"c7\"", ts: 1_790_700_000, item: 1004, type: "purchase")])
        w.writePipeline("backfill", out: "shard1", name: "ingest-shard1", ingestOnly: true)
        #expect(try w.run("ingest-shard1", extra: ["--shard", "1/2"]).wait() == 0)
        let behind = try llatte(w, into + ["--history-store", histories[0], "--history-store", histories[1]] + stores)
        #expect(behind.wait() == 3 && behind.stderr.contains("behind the history stores for 1 users")
                && behind.stderr.contains("rerun the shards' backfills and merge their stores again with --promote"), "\(behind.stderr)")
        #expect(try w.run("v2-shard1", extra: ["--shard", "1/2"]).wait() == 0)
        let whole = try llatte(w, into + ["--history-store", histories[0], "--history-store", histories[1]] + stores)
        #expect(whole.wait() == 0, "\(whole.stdout)\(whole.stderr)")
        #expect(try status(w, "golden-small") == .retired && status(w, "golden-small-v2") == .active)
        #expect(try w.store().rows(version: "golden-small-v2").count == 40)
    }

    @Test func droppingTheActiveVersionIsRefusedUnlessForced() throws {
        let w = try RolloutTests.servingWorld()
        let store = ["--embedding-store", w.dir.file("out/embeddings.db")]
        let refused = try llatte(w, ["model", "drop", "golden-small"] + store)
        #expect(refused.wait() == 1 && refused.stderr.contains("is the active version"), "\(refused.stderr)")
        #expect(try status(w, "golden-small") == .active && w.rows().count == 40)
        // Once v2 is active, v1 is still refused while the latest refresh run wrote it (its file may name v1's checkpoint)…
        #expect(try w.run("refresh").wait() == 0)
        w.writePipeline("backfill", out: "out", name: "v2", checkpoint: w.dir.file("ck2"))
        #expect(try w.run("v2").wait() == 0)
        #expect(try status(w, "golden-small") == .retired)
        let pinned = try llatte(w, ["model", "drop", "golden-small"] + store)
        #expect(pinned.wait() == 1 && pinned.stderr.contains("the latest refresh run (run 2) wrote golden-small"), "\(pinned.stderr)")
        // …and dropped once a refresh ran on the active version.
        w.writePipeline("refresh", out: "out", name: "follow", checkpoint: nil)
        #expect(try w.run("follow").wait() == 0)
        let dropped = try llatte(w, ["model", "drop", "golden-small"] + store)
        #expect(dropped.wait() == 0, "\(dropped.stderr)")
        #expect(dropped.stdout.contains("model version golden-small dropped: 40 rows,"), "\(dropped.stdout)")
        let forced = try llatte(w, ["model", "drop", "golden-small-v2", "--force"] + store)
        #expect(forced.wait() == 0, "\(forced.stderr)")
        #expect(try w.store().versions().isEmpty)
    }

    @Test func aRefreshWhoseFileNamesARetiredVersionSaysWhichIsActive() throws {
        let w = try RolloutTests.servingWorld()
        w.writePipeline("backfill", out: "out", name: "v2", checkpoint: w.dir.file("ck2"))
        #expect(try w.run("v2").wait() == 0)
        let pinned = try w.run("refresh")
        #expect(pinned.wait() == 1)
        #expect(pinned.stderr.contains("golden-small-v2 is active, checkpoint \(try Files.absolutePath(w.dir.file("ck2")))"), "\(pinned.stderr)")
        // A refresh file without a checkpoint follows the active version.
        w.writePipeline("refresh", out: "out", name: "follow", checkpoint: nil)
        let follow = try w.run("follow")
        #expect(follow.wait() == 0, "\(follow.stderr)")
        #expect(follow.stdout.contains("model_version=golden-small-v2"), "\(follow.stdout)")
    }

    @Test func aConversionIngestedMidBackfillIsInTheNewVersionWhenItIsPromoted() throws {
        let w = try RolloutTests.servingWorld()
        w.writePipeline("backfill", out: "out", name: "v2", checkpoint: w.dir.file("ck2"))
        let hold = w.dir.write("hold", text: "")
        let markers = w.dir.file("markers")
        // Pause the v2 backfill after its second window committed: user 0 (the smallest id) is behind it.
        let v2 = try w.run("v2", env: ["LLATTE_TEST_PAUSE_AT": "after-commit:1", "LLATTE_TEST_HOLD": hold, "LLATTE_TEST_MARKERS": markers])
        var waited = 0
        while !Files.exists(markers + "/after-commit.paused") && waited < 600 && !v2.hasExited() { usleep(50_000); waited += 1 }
        #expect(Files.exists(markers + "/after-commit.paused"), "the v2 backfill never paused: \(v2.stderr)")
        let user = PipelineWorld.userID(0)
        let v2Before = try #require(try w.store().row(user, version: "golden-small-v2"))
        // Meanwhile the user converts; a refresh ingests it and re-encodes the user into v1.
        w.dir.writeLines("logs/day5.jsonl", [eventLine(user: user, id: "\"conv\"", ts: 1_790_500_000, item: 1003, type: "purchase")])
        let refresh = try w.run("refresh")
        #expect(refresh.wait() == 0, "\(refresh.stderr)")
        let current = try #require(try HistoryStore(path: w.dir.file("out/history.db"), settings: nil).userState(user))
        #expect(current.historyVersion == v2Before.historyVersion + 1)
        #expect(try w.store().row(user, version: "golden-small")?.historyVersion == current.historyVersion)
        try FileManager.default.removeItem(atPath: hold)
        #expect(v2.wait() == 0, "\(v2.stdout)\(v2.stderr)")
        #expect(try status(w, "golden-small-v2") == .active)
        #expect(try w.store().row(user, version: "golden-small-v2")?.historyVersion == current.historyVersion)
    }
}

extension PipelineWorld {
    /// A copy of the `small` golden checkpoint under another model_version (another identity).
    func makeCheckpoint(version: String, at name: String) throws {
        let src = Goldens.directory("small")
        for f in try Files.list(src) { dir.write("\(name)/\(f)", try Files.readAll(src + "/" + f)) }
        let config = dir.file("\(name)/config.json")
        let text = String(decoding: try Files.readAll(config), as: UTF8.self)
            .replacingOccurrences(of: "\"model_version\": \"golden-small\"", with: "\"model_version\": \"\(version)\"")
        precondition(text.contains(version))
        dir.write("\(name)/config.json", text: text)
    }
}
