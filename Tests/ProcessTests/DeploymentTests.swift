import Foundation
import Testing
import TestSupport

/// The deployment examples in deploy/: the entrypoint's scheduler-index → --shard mapping, and
/// the Slurm array's and crontab's settings that matter (the Kubernetes manifests:
/// KubernetesManifestTests).
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

    @Test func slurmArrayAndCrontabRunThePipelines() throws {
        let slurm = try String(contentsOfFile: DeploymentTests.deploy + "/slurm-array.sh", encoding: .utf8)
        #expect(slurm.contains("#SBATCH --array=0-7") && slurm.contains("LLATTE_SHARDS=8"))
        let crontab = try String(contentsOfFile: DeploymentTests.deploy + "/crontab", encoding: .utf8)
        #expect(crontab.contains("llatte run pipelines/nightly.yaml"))
    }
}
