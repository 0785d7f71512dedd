import Foundation
import Support
import Testing
import TestSupport
import Yams

/// The Kubernetes manifests of deploy/kubernetes/ (docs/scale-out.md, "Kubernetes"): valid against
/// the API schemas (scripts/validate-deploy.sh, which must also reject a broken copy), the settings
/// no schema checks (exit-code policy, read-only inputs, one pipeline file for every shard), and the
/// pods' own command (the ConfigMap's job.sh) run for real outside a cluster: shards, merge, SIGTERM.
@Suite struct KubernetesManifestTests {
    static let root = StoreCommandTests.repoRoot
    static let dir = root + "/deploy/kubernetes"
    /// The pods' working directory; the pipeline file's relative paths are taken from it.
    static let workingDir = "/srv/llatte"

    typealias Object = [String: Any]

    static func documents(_ name: String) throws -> [Object] {
        let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
        return try Yams.load_all(yaml: text).map { $0 as! Object }
    }

    static func object(_ o: Any?, _ keys: String...) -> Object {
        var cur = o as? Object ?? [:]
        for k in keys { cur = cur[k] as? Object ?? [:] }
        return cur
    }

    /// Every Job spec of the manifests: the backfill Job's and the nightly CronJob's jobTemplate's.
    static func jobSpecs() throws -> [(name: String, spec: Object)] {
        var specs: [(String, Object)] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where file.hasSuffix(".yaml") {
            for doc in try documents(file) {
                let name = "\(file): \(object(doc, "metadata")["name"] ?? "")"
                switch doc["kind"] as? String {
                case "Job": specs.append((name, object(doc, "spec")))
                case "CronJob": specs.append((name, object(doc, "spec", "jobTemplate", "spec")))
                default: break
                }
            }
        }
        return specs
    }

    static func container(_ spec: Object) -> Object {
        (object(spec, "template", "spec")["containers"] as? [Object])?.first ?? [:]
    }

    static func env(_ container: Object, _ name: String) -> Object? {
        (container["env"] as? [Object])?.first { $0["name"] as? String == name }
    }

    static func configMapFile(_ key: String) throws -> String {
        let map = try #require(try documents("configmap.yaml").first { $0["kind"] as? String == "ConfigMap" })
        return try #require(object(map, "data")[key] as? String, "configmap.yaml has no \(key)")
    }

    func validate(_ args: [String], tag: String, in scratch: TempDirectory) throws -> (code: Int32, output: String) {
        let p = try ChildProcess("/usr/bin/env", ["bash", KubernetesManifestTests.root + "/scripts/validate-deploy.sh"] + args,
                                 outputPrefix: scratch.file(tag))
        let code = p.wait()
        return (code, p.stdout + p.stderr)
    }

    // MARK: - Schemas

    @Test func everyManifestIsValidAndABrokenOneIsRejected() throws {
        let scratch = TempDirectory()
        let good = try validate([], tag: "good", in: scratch)
        #expect(good.code == 0, "scripts/validate-deploy.sh (needs kubernetes-validate: make test-deps installs it): \(good.output)")
        #expect(good.output.contains("valid against Kubernetes 1.33.0"), "\(good.output)")
        #expect(good.output.contains("deploy/Containerfile passes hadolint"), "make test-deps installs hadolint: \(good.output)")
        // A misspelt field and a wrong type, each in a copy of the manifests: both must fail.
        let broken: [(file: String, from: String, to: String, named: String)] = [
            ("backfill-job.yaml", "workingDir:", "workingDirectory:", "workingDirectory"),
            ("nightly-cronjob.yaml", "startingDeadlineSeconds: 3600", "startingDeadlineSeconds: an hour", "startingDeadlineSeconds"),
            ("configmap.yaml", "  name: llatte-pipelines", "  name: [llatte-pipelines]", "metadata.name"),
        ]
        for (i, b) in broken.enumerated() {
            let copy = scratch.file("broken\(i)")
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            for file in try FileManager.default.contentsOfDirectory(atPath: KubernetesManifestTests.dir) where file.hasSuffix(".yaml") {
                var text = try String(contentsOfFile: KubernetesManifestTests.dir + "/" + file, encoding: .utf8)
                if file == b.file {
                    #expect(text.contains(b.from), "\(file) no longer holds \(b.from)")
                    text = text.replacingOccurrences(of: b.from, with: b.to)
                }
                try text.write(toFile: copy + "/" + file, atomically: true, encoding: .utf8)
            }
            let r = try validate([copy], tag: "broken\(i)", in: scratch)
            #expect(r.code != 0 && r.output.contains(b.named), "\(b.file) with \(b.to) was not rejected: \(r.output)")
        }
    }

    // MARK: - What the schemas cannot check

    @Test func jobsRetryOnlyWhatARetryCanFix() throws {
        let specs = try KubernetesManifestTests.jobSpecs()
        #expect(specs.map(\.name) == ["backfill-job.yaml: llatte-backfill", "nightly-cronjob.yaml: llatte-nightly"])
        for (name, spec) in specs {
            #expect(spec["completionMode"] as? String == "Indexed", "\(name)")
            let c = KubernetesManifestTests.container(spec)
            let shards = try #require(Int(KubernetesManifestTests.env(c, "LLATTE_SHARD_COUNT")?["value"] as? String ?? ""), "\(name): LLATTE_SHARD_COUNT")
            // Indexes 0 … shards-1 run the shards, index `shards` merges them.
            #expect(spec["completions"] as? Int == shards + 1 && spec["parallelism"] as? Int == shards + 1, "\(name)")
            #expect(KubernetesManifestTests.object(spec, "template", "spec")["restartPolicy"] as? String == "Never", "\(name)")
            #expect((spec["backoffLimitPerIndex"] as? Int ?? 0) >= 1 && spec["maxFailedIndexes"] as? Int == 0, "\(name)")
            #expect((spec["activeDeadlineSeconds"] as? Int ?? 0) > 0, "\(name): a merge waiting for a shard that never succeeds must end")

            let rules = KubernetesManifestTests.object(spec, "podFailurePolicy")["rules"] as? [Object] ?? []
            func action(exitCode: Int) -> String? {
                rules.first { r in
                    let e = KubernetesManifestTests.object(r, "onExitCodes")
                    return e["operator"] as? String == "In" && (e["values"] as? [Int] ?? []).contains(exitCode)
                }?["action"] as? String
            }
            #expect(action(exitCode: 5) == "Ignore", "\(name): interrupted (5) is resumed by the next pod")
            #expect(["FailJob", "FailIndex"].contains(action(exitCode: 3) ?? ""), "\(name): a partial failure (3) fails the same way again")
            #expect(action(exitCode: 4) == "FailJob" && action(exitCode: 64) == "FailJob", "\(name)")
            #expect(action(exitCode: 1) == nil, "\(name): a failure (1) is retried per index")
            for r in rules where r["onExitCodes"] != nil {
                let e = KubernetesManifestTests.object(r, "onExitCodes")
                #expect(e["containerName"] as? String == c["name"] as? String, "\(name)")
                // The API server (not the schema) wants the codes ascending, unique, and no 0 under In.
                let values = e["values"] as? [Int] ?? []
                #expect(!values.isEmpty && values == Array(Set(values)).sorted() && !values.contains(0), "\(name): \(values)")
            }
            let disruption = rules.first { r in
                (r["onPodConditions"] as? [Object] ?? []).contains { $0["type"] as? String == "DisruptionTarget" && $0["status"] as? String == "True" }
            }
            #expect(disruption?["action"] as? String == "Ignore", "\(name): an evicted or preempted pod does not count")

            #expect(c["workingDir"] as? String == KubernetesManifestTests.workingDir, "\(name)")
            #expect(c["command"] as? [String] == ["/bin/sh", "/etc/llatte/job.sh"], "\(name)")
            #expect(KubernetesManifestTests.object(KubernetesManifestTests.env(c, "JOB_UID"), "valueFrom", "fieldRef")["fieldPath"] as? String
                    == "metadata.labels['batch.kubernetes.io/controller-uid']", "\(name)")
            let resources = KubernetesManifestTests.object(c, "resources")
            #expect(KubernetesManifestTests.object(resources, "requests")["cpu"] != nil && KubernetesManifestTests.object(resources, "requests")["memory"] != nil
                    && KubernetesManifestTests.object(resources, "limits")["memory"] != nil, "\(name)")
            #expect((KubernetesManifestTests.object(spec, "template", "spec")["terminationGracePeriodSeconds"] as? Int ?? 0) >= 60,
                    "\(name): SIGTERM needs time to finish the windows in flight")

            // Inputs are mounted read-only, the stores' volume read-write, each from its claim.
            let mounts = Dictionary(uniqueKeysWithValues: (c["volumeMounts"] as? [Object] ?? []).map { ($0["mountPath"] as! String, $0) })
            for input in ["logs", "checkpoints", "catalog"] {
                #expect(mounts[KubernetesManifestTests.workingDir + "/" + input]?["readOnly"] as? Bool == true, "\(name): \(input)")
            }
            #expect(mounts[KubernetesManifestTests.workingDir + "/data"] != nil && mounts[KubernetesManifestTests.workingDir + "/data"]?["readOnly"] as? Bool != true, "\(name)")
            #expect(mounts["/etc/llatte"] != nil, "\(name)")
            let claims = try KubernetesManifestTests.documents("storage.yaml").filter { $0["kind"] as? String == "PersistentVolumeClaim" }
            let claimModes = Dictionary(uniqueKeysWithValues: claims.map {
                (KubernetesManifestTests.object($0, "metadata")["name"] as! String, KubernetesManifestTests.object($0, "spec")["accessModes"] as? [String] ?? [])
            })
            for v in KubernetesManifestTests.object(spec, "template", "spec")["volumes"] as? [Object] ?? [] {
                if let claim = KubernetesManifestTests.object(v, "persistentVolumeClaim")["claimName"] as? String {
                    // Every pod of the Job mounts each claim at once, from any node.
                    let modes = claimModes[claim] ?? []
                    #expect(modes.contains("ReadWriteMany") || modes.contains("ReadOnlyMany"), "\(name): claim \(claim) in storage.yaml: \(modes)")
                } else if let map = KubernetesManifestTests.object(v, "configMap")["name"] as? String {
                    #expect(map == "llatte-pipelines", "\(name)")
                }
            }
        }
        let cron = try #require(try KubernetesManifestTests.documents("nightly-cronjob.yaml").first)
        let cronSpec = KubernetesManifestTests.object(cron, "spec")
        #expect(cronSpec["concurrencyPolicy"] as? String == "Forbid")
        #expect((cronSpec["startingDeadlineSeconds"] as? Int ?? 0) > 0)
        #expect(cronSpec["successfulJobsHistoryLimit"] is Int && cronSpec["failedJobsHistoryLimit"] is Int)
    }

    /// The nightly's pods are the backfill's, but for their labels and for merging without --promote.
    @Test func theNightlyRunsTheBackfillsPodsWithoutPromoting() throws {
        let specs = try KubernetesManifestTests.jobSpecs()
        try #require(specs.count == 2)
        func normalized(_ spec: Object) throws -> (template: String, promote: String?) {
            var template = KubernetesManifestTests.object(spec, "template")
            template["metadata"] = nil
            var podSpec = KubernetesManifestTests.object(template, "spec")
            var c = KubernetesManifestTests.container(spec)
            let promote = KubernetesManifestTests.env(c, "LLATTE_MERGE_PROMOTE")?["value"] as? String
            c["env"] = (c["env"] as? [Object] ?? []).filter { $0["name"] as? String != "LLATTE_MERGE_PROMOTE" }
            podSpec["containers"] = [c]
            template["spec"] = podSpec
            return (try Yams.dump(object: template, sortKeys: true), promote)
        }
        let backfill = try normalized(specs[0].spec), nightly = try normalized(specs[1].spec)
        #expect(backfill.template == nightly.template)
        #expect(backfill.promote == "1" && nightly.promote == "0")
        for key in ["completions", "parallelism", "backoffLimitPerIndex", "maxFailedIndexes"] {
            #expect(specs[0].spec[key] as? Int == specs[1].spec[key] as? Int, "\(key)")
        }
        #expect(try Yams.dump(object: specs[0].spec["podFailurePolicy"] as Any, sortKeys: true)
                == Yams.dump(object: specs[1].spec["podFailurePolicy"] as Any, sortKeys: true))
    }

    // MARK: - The pods' command, outside a cluster

    /// A pod's working directory: the volumes' layout, holding a few days of sample-data/.
    struct Pod {
        let dir = TempDirectory()
        let shards: Int
        let checkpoint: String

        init() throws {
            let spec = try KubernetesManifestTests.jobSpecs()[0].spec
            let c = KubernetesManifestTests.container(spec)
            shards = Int(KubernetesManifestTests.env(c, "LLATTE_SHARD_COUNT")?["value"] as? String ?? "") ?? 0
            checkpoint = KubernetesManifestTests.env(c, "LLATTE_CHECKPOINT")?["value"] as? String ?? ""
            let sample = KubernetesManifestTests.root + "/sample-data"
            let fm = FileManager.default
            for d in ["work/logs", "work/checkpoints", "work/catalog", "work/data", "etc"] {
                try fm.createDirectory(atPath: dir.file(d), withIntermediateDirectories: true)
            }
            for day in try fm.contentsOfDirectory(atPath: sample + "/events").sorted().prefix(3) {
                try fm.createSymbolicLink(atPath: dir.file("work/logs/" + day), withDestinationPath: sample + "/events/" + day)
            }
            try fm.createSymbolicLink(atPath: dir.file("work/checkpoints/" + checkpoint), withDestinationPath: sample + "/checkpoint")
            try fm.createSymbolicLink(atPath: dir.file("work/catalog/catalog.db"), withDestinationPath: sample + "/catalog.db")
            for f in ["shard.yaml", "job.sh"] { dir.write("etc/" + f, text: try KubernetesManifestTests.configMapFile(f)) }
        }

        /// job.sh as index `index` of the Job `job` runs it: from the working directory, with
        /// the Job's environment and llatte on PATH.
        func start(index: Int, job: String = "1b5e0c34-uid-1", promote: Bool, env extra: [String: String] = [:], tag: String) throws -> ChildProcess {
            var env = ["JOB_COMPLETION_INDEX": String(index), "LLATTE_SHARD_COUNT": String(shards), "LLATTE_CHECKPOINT": checkpoint,
                       "LLATTE_MERGE_PROMOTE": promote ? "1" : "0", "JOB_UID": job,
                       "PATH": URL(fileURLWithPath: ChildProcess.llatte).deletingLastPathComponent().path + ":/usr/bin:/bin"]
            for (k, v) in extra { env[k] = v }
            return try ChildProcess("/bin/sh", ["-c", "cd \"$1\" && exec /bin/sh \"$2\"", "pod", dir.file("work"), dir.file("etc/job.sh")],
                                    environment: env, outputPrefix: dir.file(tag))
        }

        func check(_ env: [String: String], tag: String) throws -> (code: Int32, keys: [String: String], err: String) {
            let p = try ChildProcess("/bin/sh", ["-c", "cd \"$1\" && exec \"$2\" run \"$3\" --check --shard scheduler", "check",
                                                 dir.file("work"), ChildProcess.llatte, dir.file("etc/shard.yaml")],
                                     environment: env, outputPrefix: dir.file(tag))
            let code = p.wait()
            return (code, checkOutputKeys(p.stdout), p.stderr)
        }
    }

    @Test func oneShardFileServesEveryShardFromTheMountedVolumes() throws {
        let pod = try Pod()
        try #require(pod.shards >= 2)
        var stores = Set<String>(), histories = Set<String>()
        for k in 0..<pod.shards {
            let r = try pod.check(["JOB_COMPLETION_INDEX": String(k), "LLATTE_SHARD_COUNT": String(pod.shards), "LLATTE_CHECKPOINT": pod.checkpoint], tag: "check\(k)")
            #expect(r.code == 0, "\(r.err)")
            #expect(r.keys["shard"] == "\(k)/\(pod.shards)")
            #expect(r.keys["embedding_store"] == "data/shards/shard-\(k)/embeddings.db", "\(r.keys)")
            #expect(r.keys["history_store"] == "data/shards/shard-\(k)/history.db", "\(r.keys)")
            stores.insert(r.keys["embedding_store"] ?? ""); histories.insert(r.keys["history_store"] ?? "")
            // Each path the file resolves to lies on a volume the pod mounts in its working directory.
            for (key, path) in r.keys where key != "pipeline" && key != "shard" {
                #expect(["data", "logs", "checkpoints", "catalog"].contains(path.split(separator: "/").first.map(String.init) ?? ""),
                        "\(key): \(path) is not on a mounted volume")
            }
        }
        #expect(stores.count == pod.shards && histories.count == pod.shards)
        // The merge index is no shard: --shard scheduler refuses it.
        let merge = try pod.check(["JOB_COMPLETION_INDEX": String(pod.shards), "LLATTE_SHARD_COUNT": String(pod.shards), "LLATTE_CHECKPOINT": pod.checkpoint], tag: "checkmerge")
        #expect(merge.code == 64 && merge.err.contains("not below the shard count"), "\(merge)")
    }

    @Test func shardPodsThenTheMergePodPromoteTheMergedStore() throws {
        let pod = try Pod()
        // The merge index waits for every shard of its Job; SIGTERM ends the wait with exit 5.
        let early = try pod.start(index: pod.shards, promote: true, tag: "early-merge")
        usleep(1_500_000)
        #expect(!early.hasExited(), "the merge did not wait for the shards: \(early.stdout) \(early.stderr)")
        early.kill(SIGTERM)
        #expect(early.wait() == 5, "\(early.stderr)")

        for k in 0..<pod.shards {
            let p = try pod.start(index: k, promote: true, tag: "shard\(k)")
            #expect(p.wait() == 0, "shard \(k): \(p.stderr)")
            #expect(p.stdout.contains("not promoted: shard \(k)/\(pod.shards)"), "\(p.stdout)")
            #expect(Files.exists(pod.dir.file("work/data/jobs/1b5e0c34-uid-1/shard-\(k).done")))
            #expect(Files.exists(pod.dir.file("work/data/shards/shard-\(k)/embeddings.db")))
        }
        // Another Job's markers (another uid: the same Job applied again) are not this one's: its merge still waits.
        let other = try pod.start(index: pod.shards, job: "1b5e0c34-uid-2", promote: true, tag: "other-merge")
        usleep(1_500_000)
        #expect(!other.hasExited())
        other.kill(SIGTERM)
        #expect(other.wait() == 5)

        let merge = try pod.start(index: pod.shards, promote: true, tag: "merge")
        #expect(merge.wait() == 0, "\(merge.stdout) \(merge.stderr)")
        #expect(merge.stdout.contains("merge: shards=\(pod.shards)") && merge.stdout.contains("is active"), "\(merge.stdout)")
        #expect(!Files.exists(pod.dir.file("work/data/jobs/1b5e0c34-uid-1")), "the Job's markers are removed after its merge")
        let list = try ChildProcess(ChildProcess.llatte, ["model", "list", "--embedding-store", pod.dir.file("work/data/serving/embeddings.db")],
                                    outputPrefix: pod.dir.file("list"))
        #expect(list.wait() == 0 && list.stdout.contains("active"), "\(list.stdout) \(list.stderr)")

        // The nightly's Job: the shards run again (nothing new: no user re-encoded) and merge without promoting.
        for k in 0..<pod.shards {
            let p = try pod.start(index: k, job: "1b5e0c34-uid-3", promote: false, tag: "night\(k)")
            #expect(p.wait() == 0, "\(p.stderr)")
            #expect(p.stdout.contains("encoded=0"), "\(p.stdout)")
        }
        let nightMerge = try pod.start(index: pod.shards, job: "1b5e0c34-uid-3", promote: false, tag: "night-merge")
        #expect(nightMerge.wait() == 0, "\(nightMerge.stderr)")
        #expect(nightMerge.stdout.contains("merge: shards=\(pod.shards)") && !nightMerge.stdout.contains("promote"), "\(nightMerge.stdout)")
    }

    @Test func aShardPodPassesSIGTERMOnAndExitsFive() throws {
        let pod = try Pod()
        let hold = pod.dir.write("hold", text: "")
        let markers = pod.dir.file("markers")
        let p = try pod.start(index: 0, promote: false, env: ["LLATTE_TEST_PAUSE_AT": "ingest-batch:0", "LLATTE_TEST_HOLD": hold,
                                                                "LLATTE_TEST_MARKERS": markers], tag: "signalled")
        let deadline = Date().addingTimeInterval(60)
        while !Files.exists(markers + "/ingest-batch.paused") && !p.hasExited() && Date() < deadline { usleep(10_000) }
        try #require(Files.exists(markers + "/ingest-batch.paused"), "the shard never reached its first ingest batch: \(p.stderr)")
        p.kill(SIGTERM)   // to the pod's shell, as the kubelet sends it to the container's process 1
        usleep(300_000)
        try FileManager.default.removeItem(atPath: hold)
        #expect(p.wait() == 5, "\(p.stderr)")
        #expect(p.stderr.contains("SIGTERM"), "\(p.stderr)")
        #expect(!Files.exists(pod.dir.file("work/data/jobs/1b5e0c34-uid-1/shard-0.done")), "an interrupted shard leaves no marker")
    }
}
