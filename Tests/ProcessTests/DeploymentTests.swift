import Foundation
import Testing
import TestSupport
import Yams

/// The deployment examples in deploy/: the entrypoint's scheduler-index → --shard mapping, the
/// manifests' settings that matter (no overlapping runs, indexed completions), and the Slurm files'
/// (`make test-slurm` runs those on a real cluster).
@Suite struct DeploymentTests {
    static let deploy = StoreCommandTests.repoRoot + "/deploy"

    func entrypoint(_ env: [String: String], tag: String) throws -> (code: Int32, out: String, err: String) {
        let dir = TempDirectory()
        var e = env
        e["LLATTE_BIN"] = "/bin/echo"
        for k in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "LLATTE_SHARDS"] where e[k] == nil {
            e[k] = ""
        }
        let p = try ChildProcess("/bin/sh", [DeploymentTests.deploy + "/entrypoint.sh", "p.yaml", "--quiet"], environment: e, outputPrefix: dir.file(tag))
        let code = p.wait()
        return (code, p.stdout.trimmingCharacters(in: .whitespacesAndNewlines), p.stderr)
    }

    @Test func entrypointMapsSchedulerIndicesToShards() throws {
        #expect(try entrypoint(["JOB_COMPLETION_INDEX": "3", "LLATTE_SHARDS": "8"], tag: "k8s").out == "run p.yaml --shard 3/8 --quiet")
        #expect(try entrypoint(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "8"], tag: "slurm").out == "run p.yaml --shard 5/8 --quiet")
        #expect(try entrypoint(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8"], tag: "slurm1").out
                == "run p.yaml --shard 4/8 --quiet")
        #expect(try entrypoint([:], tag: "plain").out == "run p.yaml --quiet")
        let bad = try entrypoint(["JOB_COMPLETION_INDEX": "8", "LLATTE_SHARDS": "8"], tag: "bad")
        #expect(bad.code == 64 && bad.err.contains("not below the shard count"))
        #expect(try entrypoint(["JOB_COMPLETION_INDEX": "2"], tag: "noshards").code != 0)
    }

    @Test func manifestsForbidOverlapAndIndexTheirCompletions() throws {
        func yaml(_ name: String) throws -> [String: Any] {
            try Yams.load(yaml: String(contentsOfFile: DeploymentTests.deploy + "/" + name, encoding: .utf8)) as! [String: Any]
        }
        let cron = try yaml("k8s-cronjob.yaml")
        #expect(cron["kind"] as? String == "CronJob")
        #expect((cron["spec"] as! [String: Any])["concurrencyPolicy"] as? String == "Forbid")
        let job = try yaml("k8s-indexed-job.yaml")
        let spec = job["spec"] as! [String: Any]
        #expect(spec["completionMode"] as? String == "Indexed")
        let container = (((spec["template"] as! [String: Any])["spec"] as! [String: Any])["containers"] as! [[String: Any]])[0]
        let shards = (container["env"] as! [[String: Any]]).first { $0["name"] as? String == "LLATTE_SHARDS" }?["value"] as? String
        #expect(shards == String(spec["completions"] as! Int))
        let crontab = try String(contentsOfFile: DeploymentTests.deploy + "/crontab", encoding: .utf8)
        #expect(crontab.contains("llatte run pipelines/nightly.yaml"))
    }

    @Test func slurmArrayTasksResolveToTheirOwnShardStores() throws {
        let dir = TempDirectory()
        let sample = StoreCommandTests.repoRoot + "/sample-data"
        var env = ["LLATTE_OUT": "/shared/llatte", "LLATTE_CHECKPOINT": sample + "/checkpoint", "LLATTE_EVENTS": sample + "/events",
                   "LLATTE_FEATURES": sample + "/users.jsonl", "LLATTE_CATALOG": sample + "/catalog.db",
                   "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "7", "SLURM_ARRAY_TASK_COUNT": "8"]
        for k in [0, 5, 7] {
            env["SLURM_ARRAY_TASK_ID"] = "\(k)"
            let p = try ChildProcess(ChildProcess.llatte, ["run", DeploymentTests.deploy + "/slurm/backfill.yaml", "--shard", "scheduler", "--check"],
                                     environment: env, outputPrefix: dir.file("task\(k)"))
            #expect(p.wait() == 0, "\(p.stderr)")
            #expect(p.stdout.contains("shard: \(k)/8\n"), "\(p.stdout)")
            #expect(p.stdout.contains("embedding_store: /shared/llatte/shard-\(k)/embeddings.db\n"), "\(p.stdout)")
            #expect(p.stdout.contains("history_store: /shared/llatte/shard-\(k)/history.db\n"), "\(p.stdout)")
        }
        func text(_ name: String) throws -> String { try String(contentsOfFile: DeploymentTests.deploy + "/slurm/" + name, encoding: .utf8) }
        // A preempted or timed-out task is requeued with SIGTERM handed to llatte; the merge waits for every task.
        let array = try text("backfill-array.sh")
        #expect(array.contains("#SBATCH --requeue") && array.contains("#SBATCH --signal=B:TERM@") && array.contains("--shard scheduler"))
        let submit = try text("submit.sh")
        #expect(submit.contains("--dependency=\"afterok:$array\"") && submit.contains("--kill-on-invalid-dep=yes"))
    }
}
