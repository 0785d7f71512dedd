import Foundation
import Testing
import TestSupport

/// The deployment examples in deploy/: the crontab, and the Slurm files' settings that matter
/// (`make test-slurm` runs those on a real cluster; the Kubernetes manifests: KubernetesManifestTests).
@Suite struct DeploymentTests {
    static let deploy = StoreCommandTests.repoRoot + "/deploy"

    @Test func theCrontabRunsTheNightly() throws {
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
