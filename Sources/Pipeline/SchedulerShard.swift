/// Where a shard's index and count come from under a scheduler, in one place
/// (docs/scale-out.md, "One pipeline file for every shard"):
/// - Slurm job array: index `SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN`, count
///   `SLURM_ARRAY_TASK_COUNT`; the array must be contiguous (`--array=0-7`, not `0-7:2`).
/// - Kubernetes Indexed Job: index `JOB_COMPLETION_INDEX`, count `LLATTE_SHARD_COUNT` (the number
///   of shards; Kubernetes does not hand the pod a count).
extension Shard {
    /// Why the scheduler's variables give no shard.
    public struct SchedulerError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The shard this task runs, read from the scheduler's environment variables.
    public static func fromScheduler(_ environment: [String: String]) throws(SchedulerError) -> Shard {
        func number(_ name: String) throws(SchedulerError) -> Int? {
            guard let text = environment[name] else { return nil }
            guard let v = Int(text), v >= 0 else { throw SchedulerError(description: "\(name)=\(text) is not a non-negative integer") }
            return v
        }
        if let task = try number("SLURM_ARRAY_TASK_ID") {
            guard let count = try number("SLURM_ARRAY_TASK_COUNT") else {
                throw SchedulerError(description: "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")
            }
            let low = try number("SLURM_ARRAY_TASK_MIN") ?? 0
            if let high = try number("SLURM_ARRAY_TASK_MAX"), high - low + 1 != count {
                throw SchedulerError(description: "the Slurm array \(low)-\(high) has \(count) tasks, not \(high - low + 1): shards need a contiguous array such as --array=0-\(count - 1)")
            }
            return try checked(task - low, count, "SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN")
        }
        if let index = try number("JOB_COMPLETION_INDEX") {
            guard let count = try number("LLATTE_SHARD_COUNT") else {
                throw SchedulerError(description: "JOB_COMPLETION_INDEX is set but LLATTE_SHARD_COUNT is not (the number of shards)")
            }
            return try checked(index, count, "JOB_COMPLETION_INDEX")
        }
        throw SchedulerError(description: "no scheduler task index in the environment (SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)")
    }

    private static func checked(_ index: Int, _ count: Int, _ source: String) throws(SchedulerError) -> Shard {
        guard count >= 1, index >= 0, index < count else {
            throw SchedulerError(description: "shard index \(index) (\(source)) is not below the shard count \(count)")
        }
        return Shard(index: index, count: count)
    }

    /// The environment a pipeline file is expanded from: `environment`, with `LLATTE_SHARD_INDEX` and
    /// `LLATTE_SHARD_COUNT` set from this shard when the run is sharded and removed when it is not,
    /// so a file written for shards cannot quietly put a whole run into one shard's stores.
    public func expansionEnvironment(_ environment: [String: String]) -> [String: String] {
        var env = environment
        if self == .all {
            env["LLATTE_SHARD_INDEX"] = nil
            env["LLATTE_SHARD_COUNT"] = nil
        } else {
            env["LLATTE_SHARD_INDEX"] = String(index)
            env["LLATTE_SHARD_COUNT"] = String(count)
        }
        return env
    }
}
