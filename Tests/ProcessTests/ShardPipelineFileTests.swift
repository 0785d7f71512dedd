import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// One pipeline file serves every shard: `${LLATTE_SHARD_INDEX}` in its paths, the shard from
/// `--shard k/n` or from the scheduler's variables, checked with `llatte run --check` and by a real run.
@Suite struct ShardPipelineFileTests {
    func sharedFile(_ w: PipelineWorld) throws -> String {
        let text = String(decoding: try Files.readAll(w.dir.file("backfill.yaml")), as: UTF8.self)
            .replacingOccurrences(of: w.dir.file("out/"), with: "${LLATTE_OUT:-\(w.dir.file("out"))}/shard-${LLATTE_SHARD_INDEX}-of-${LLATTE_SHARD_COUNT}/")
        return w.dir.write("shared.yaml", text: text)
    }

    func check(_ file: String, _ args: [String], env: [String: String] = [:], _ w: PipelineWorld, tag: String) throws -> (code: Int32, out: [String: String], err: String) {
        let p = try ChildProcess(ChildProcess.llatte, ["run", file, "--check"] + args, environment: env, outputPrefix: w.dir.file(tag))
        let code = p.wait()
        return (code, checkOutputKeys(p.stdout), p.stderr)
    }

    @Test func everyShardResolvesToItsOwnStores() throws {
        let w = try PipelineWorld()
        let file = try sharedFile(w)
        var stores = Set<String>()
        for k in 0..<4 {
            let r = try check(file, ["--shard", "\(k)/4"], w, tag: "check\(k)")
            #expect(r.code == 0, "\(r.err)")
            #expect(r.out["shard"] == "\(k)/4")
            #expect(r.out["embedding_store"] == w.dir.file("out/shard-\(k)-of-4/embeddings.db"))
            #expect(r.out["history_store"] == w.dir.file("out/shard-\(k)-of-4/history.db"))
            #expect(r.out["metrics_file"] == w.dir.file("out/shard-\(k)-of-4/llatte_backfill_shard\(k)of4.prom"))
            stores.insert(r.out["embedding_store"] ?? "")
        }
        #expect(stores.count == 4)
        let slurm = try check(file, ["--shard", "scheduler"], env: ["SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_MAX": "7", "SLURM_ARRAY_TASK_COUNT": "4",
                                                                 "LLATTE_OUT": "/shared/run"], w, tag: "slurm")
        #expect(slurm.code == 0 && slurm.out["embedding_store"] == "/shared/run/shard-2-of-4/embeddings.db", "\(slurm)")
        let k8s = try check(file, ["--shard", "scheduler"], env: ["JOB_COMPLETION_INDEX": "3", "LLATTE_SHARD_COUNT": "4"], w, tag: "k8s")
        #expect(k8s.code == 0 && k8s.out["shard"] == "3/4", "\(k8s)")
        let noCount = try check(file, ["--shard", "scheduler"], env: ["JOB_COMPLETION_INDEX": "3"], w, tag: "nocount")
        #expect(noCount.code == 64 && noCount.err.contains("JOB_COMPLETION_INDEX is set but LLATTE_SHARD_COUNT is not"), "\(noCount)")
        // Unsharded, the file's shard paths are an error naming the variable, not a whole run in one shard's stores.
        let whole = try check(file, [], w, tag: "whole")
        #expect(whole.code == 1 && whole.err.contains("environment variable LLATTE_SHARD_INDEX is not set"), "\(whole)")
    }

    @Test func anIngestOnlyRunUnderASchedulerKeepsOnlyItsShardsUsers() throws {
        let w = try PipelineWorld(users: 24, windowUsers: 4, days: 1)
        w.writePipeline("backfill", out: "out", name: "ingest", ingestOnly: true)
        let text = String(decoding: try Files.readAll(w.dir.file("ingest.yaml")), as: UTF8.self)
            .replacingOccurrences(of: w.dir.file("out/"), with: w.dir.file("out/shard-${LLATTE_SHARD_INDEX}/"))
        let file = w.dir.write("ingest-shards.yaml", text: text)
        let p = try ChildProcess(ChildProcess.llatte, ["run", file, "--quiet", "--shard", "scheduler"],
                                 environment: ["JOB_COMPLETION_INDEX": "1", "LLATTE_SHARD_COUNT": "3"], outputPrefix: w.dir.file("ingest"))
        #expect(p.wait() == 0, "\(p.stderr)")
        let users = try HistoryStore(readingAt: w.dir.file("out/shard-1/history.db")).userIDs()
        let shard = Shard(index: 1, count: 3)
        #expect(!users.isEmpty && users.allSatisfy(shard.owns), "\(users.count) users, \(users.filter { !shard.owns($0) }.count) of other shards")
    }

    @Test func aRunWritesWhereTheExpandedFileSays() throws {
        let w = try PipelineWorld(users: 12, windowUsers: 4, days: 1)
        let file = try sharedFile(w)
        let p = try ChildProcess(ChildProcess.llatte, ["run", file, "--quiet", "--shard", "scheduler"],
                                 environment: ["JOB_COMPLETION_INDEX": "1", "LLATTE_SHARD_COUNT": "2"], outputPrefix: w.dir.file("run"))
        #expect(p.wait() == 0, "\(p.stderr)")
        #expect(Files.exists(w.dir.file("out/shard-1-of-2/embeddings.db")))
        #expect(Files.exists(w.dir.file("out/shard-1-of-2/history.db")))
        #expect(!Files.exists(w.dir.file("out/shard-0-of-2")))
        #expect(!Files.exists(w.dir.file("out/embeddings.db")))
    }
}
