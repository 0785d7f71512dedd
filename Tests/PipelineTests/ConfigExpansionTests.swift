import Pipeline
import Support
import Testing
import TestSupport

/// `${NAME}`, `${NAME:-default}` and `$$` in pipeline-file values, and the errors that name what is wrong.
@Suite struct ConfigExpansionTests {
    let env = ["OUT": "/data/out", "EMPTY": "", "N": "3"]

    func expand(_ s: String) throws(ConfigExpansion.Failure) -> String { try ConfigExpansion.expand(s, environment: env) }

    @Test func variablesDefaultsAndDollars() throws {
        #expect(try expand("${OUT}/shard-${N}/e.db") == "/data/out/shard-3/e.db")
        #expect(try expand("${MISSING:-out}/x") == "out/x")
        #expect(try expand("${EMPTY:-fallback}") == "fallback", "an empty variable takes the default, as in the shell")
        #expect(try expand("${OUT:-}") == "/data/out")
        #expect(try expand("${MISSING:-}x") == "x")
        #expect(try expand("cost$$5 $HOME a$ $") == "cost$5 $HOME a$ $", "only ${…} and $$ are special")
        #expect(try expand("${MISSING:-a:-b}") == "a:-b")
        #expect(try expand("plain") == "plain")
    }

    @Test func errorsNameTheVariable() {
        #expect { try expand("${NOPE}/x") } throws: { e in
            let f = e as! ConfigExpansion.Failure
            return f.variable == "NOPE" && f.message == "environment variable NOPE is not set (write ${NOPE:-default} for a default)"
        }
        #expect { try expand("${OUT") } throws: { ($0 as! ConfigExpansion.Failure).message.contains("without a closing") }
        #expect { try expand("${}") } throws: { ($0 as! ConfigExpansion.Failure).message.contains("does not start with a variable name") }
        #expect { try expand("${1X}") } throws: { ($0 as! ConfigExpansion.Failure).message.contains("does not start with a variable name") }
        #expect { try expand("${OUT-x}") } throws: { ($0 as! ConfigExpansion.Failure).message.contains("expected } or :-default after OUT") }
    }

    @Test func aPipelineFileIsExpandedInValuesOnlyWithTheKeyAndLineOfAFault() throws {
        let dir = TempDirectory()
        let text = """
            # ${NOT_EXPANDED_IN_A_COMMENT}
            pipeline: ingest_only_is_not_a_kind
            """
        // Comments are not expanded: the error is about the kind, not the variable.
        #expect { try PipelineConfig.load(dir.write("c.yaml", text: text)) } throws: { "\($0)".contains("must be one of") }
        let file = dir.write("p.yaml", text: """
            pipeline: backfill
            history_store: ${OUT}/history.db
            inputs:
              events: ["${LOGS:-logs}", "${OUT}/more"]
            history:
              conversion_types: [purchase]
              min_ts: ${MIN_TS:-0}
              max_ts: 4000000000
            """)
        let c = try PipelineConfig.load(file, environment: env)
        // Inside [ ] a `{` is YAML's own: there the value is written in quotes.
        #expect { try PipelineConfig.load(dir.write("flow.yaml", text: "pipeline: backfill\ninputs:\n  events: [${OUT}]\n"), environment: env) } throws: { "\($0)".contains("not YAML") }
        #expect(c.historyStore == "/data/out/history.db")
        #expect(c.eventInputs == ["logs", "/data/out/more"])
        #expect(c.settings.minTs == 0)
        #expect(try PipelineConfig.load(file, environment: env.merging(["MIN_TS": "17"]) { $1 }).settings.minTs == 17)
        #expect { try PipelineConfig.load(file, environment: [:]) } throws: { e in
            let e = e as! ConfigError
            return e.key == "history_store" && e.line == 2 && e.message.contains("OUT is not set")
        }
    }

    @Test func schedulerVariablesGiveTheShard() throws {
        #expect(try Shard.fromScheduler(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"])
                == Shard(index: 2, count: 4))
        #expect(try Shard.fromScheduler(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_MAX": "6"])
                == Shard(index: 2, count: 4))
        #expect(try Shard.fromScheduler(["JOB_COMPLETION_INDEX": "7", "LLATTE_SHARD_COUNT": "8"]) == Shard(index: 7, count: 8))
        func fails(_ env: [String: String], _ words: String) {
            #expect { try Shard.fromScheduler(env) } throws: { "\($0)".contains(words) }
        }
        fails([:], "no scheduler task index")
        fails(["JOB_COMPLETION_INDEX": "1"], "LLATTE_SHARD_COUNT is not")
        fails(["JOB_COMPLETION_INDEX": "8", "LLATTE_SHARD_COUNT": "8"], "not below the shard count 8")
        fails(["SLURM_ARRAY_TASK_ID": "2"], "SLURM_ARRAY_TASK_COUNT is not")
        fails(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "6"], "contiguous array")
        fails(["JOB_COMPLETION_INDEX": "x", "LLATTE_SHARD_COUNT": "8"], "not a non-negative integer")
    }

    @Test func shardVariablesAreLlattesOwn() {
        let outside = ["LLATTE_SHARD_INDEX": "9", "LLATTE_SHARD_COUNT": "10", "HOME": "/root"]
        #expect(Shard(index: 1, count: 4).expansionEnvironment(outside) == ["LLATTE_SHARD_INDEX": "1", "LLATTE_SHARD_COUNT": "4", "HOME": "/root"])
        #expect(Shard.all.expansionEnvironment(outside) == ["HOME": "/root"])
    }
}
