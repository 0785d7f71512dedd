import Dispatch
import Synchronization
import Tensor

/// Per-worker scratch buffers, sized once for the longest user (n_max + Q rows), so encoding
/// allocates nothing per user or per layer.
final class Workspace: @unchecked Sendable {
    let rows: Int
    let x, xn, h, ckv, cq, q, k, v, o, g, u, sem, head: UnsafeMutablePointer<Float>
    /// One head's packed keys and values and the fused attention's scratch.
    let kp, vp, attention: UnsafeMutablePointer<Float>
    /// The last layer's latent attention: q̃ [H·Q, r_kv], scores [H·Q, n_max + Q], ō [H·Q, r_kv].
    let latent: UnsafeMutablePointer<Float>
    /// The plain path's score tile [tileRows, n_max + Q] (only when the encoder runs plain kernels).
    let scores: UnsafeMutablePointer<Float>?
    private var all: [UnsafeMutablePointer<Float>] = []
    static let tileRows = 128

    init(_ c: ModelConfig, plain: Bool) {
        let t = c.nMax + c.queryTokens
        rows = t
        var made: [UnsafeMutablePointer<Float>] = []
        func buf(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            made.append(p)
            return p
        }
        x = buf(t * c.d); xn = buf(t * c.d); h = buf(t * c.d)
        ckv = buf(t * c.rKV); cq = buf(t * c.rQ)
        q = buf(t * c.hd); k = buf(t * c.hd); v = buf(t * c.hd); o = buf(t * c.hd)
        g = buf(t * c.ffn); u = buf(t * c.ffn)
        sem = buf(c.nMax * c.dSem)
        head = buf(2 * c.loraRank + c.loraHidden + c.d)
        kp = buf(Attention.packedKeyCount(keys: t, dHead: c.dHead))
        vp = buf(Attention.packedKeyCount(keys: t, dHead: c.dHead))
        attention = buf(Attention.scratchCount(dHead: c.dHead))
        latent = buf(c.heads * c.queryTokens * (2 * c.rKV + t))
        scores = plain ? buf(Workspace.tileRows * t) : nil
        all = made
    }
    deinit { for p in all { p.deallocate() } }
}

/// The offline LLaTTE encoder (docs/checkpoint.md) on packed-weight products, the fused kernels
/// and, for the few small products left (the head, the last layer's latent attention), OpenBLAS.
///
/// Each user is computed alone: the row count of every product it takes part in (its n + Q rows,
/// or fixed-size row tiles of them) depends only on that user, so its bits do not depend on the
/// batch, and no padding exists to leak into attention. Users are spread over worker threads,
/// each running single-threaded kernels, so the result does not depend on the thread count either.
public final class Encoder: @unchecked Sendable {
    public let config: ModelConfig
    private let w: Weights
    /// Use the plain kernel twins (tests and parity checks of the fused path).
    public let plainKernels: Bool
    /// The arithmetic of the linear layers.
    public let precision: Precision
    /// The linear layers' weights packed for `PackedGemm` (empty with plain kernels and in the portable
    /// build, which use OpenBLAS).
    private let packed: [String: PackedWeight]
    /// The same weights in bf16 for `BF16Gemm`, when `precision` is `.bf16` (then `packed` is empty).
    private let packedBF16: [String: BF16Weight]
    private let linearShapes: [String: (out: Int, in: Int)]

    /// One workspace per worker slot, made on first use and kept: buffers are reused across calls
    /// (allocating them per call churned the allocator's per-thread arenas and raised peak RSS).
    private let workspaces = Mutex<[Workspace]>([])
    /// Worker threads by count, made on first use.
    private let pools = Mutex<[Int: WorkerPool]>([:])

    /// Whether the last layer attends in latent space: expanding keys and values costs 4·r_kv·hd a
    /// row, attending in latent space 4·H·Q·r_kv a row (plus per-query terms), so it pays when
    /// hd > H·Q (the bench config: 256 > 64).
    public static func attendsInLatentSpace(_ c: ModelConfig) -> Bool { c.hd > c.heads * c.queryTokens }
    let latentLastLayer: Bool

    /// How the linear layers multiply: fp32 throughout (the default, and the reference's), or bf16
    /// weights and activations with fp32 sums where the CPU has AVX-512 BF16 (faster; within cosine
    /// 0.9999 of fp32 for the checkpoints `bf16SelfCheck` accepts: docs/performance.md). Attention,
    /// norms and the head stay fp32 either way.
    public enum Precision: String, Sendable, CaseIterable {
        case fp32, bf16

        /// The worst cosine to fp32, per interest, a checkpoint must keep in bf16 (`bf16SelfCheck`).
        public static let bf16MinimumCosine = 0.9999

        /// Why this machine cannot encode at this precision (nil: it can).
        public var unsupportedReason: String? {
            self == .bf16 && !BF16Gemm.isSupported
                ? "bf16 encoding needs a CPU with AVX-512 BF16 (avx512f, avx512cd, avx512bw, avx512dq, avx512vl, avx512_bf16); this one has not" : nil
        }
    }

    /// `precision` must be supported here (`Precision.unsupportedReason` is nil); plain kernels are fp32.
    public init(checkpoint: Checkpoint, plainKernels: Bool = false, precision: Precision = .fp32) {
        precondition(precision.unsupportedReason == nil && !(plainKernels && precision == .bf16))
        self.precision = precision
        config = checkpoint.config
        w = checkpoint.weights
        self.plainKernels = plainKernels
        latentLastLayer = Encoder.attendsInLatentSpace(config)
        linearShapes = Encoder.linearShapes(config)
        var packed: [String: PackedWeight] = [:], packedBF16: [String: BF16Weight] = [:]
        for (name, s) in linearShapes where !plainKernels {
            switch precision {
            case .fp32: if PackedGemm.hasFusedMultiplyAdd { packed[name] = PackedWeight(w[name], n: s.out, k: s.in, ldw: s.in) }
            case .bf16: packedBF16[name] = BF16Weight(w[name], n: s.out, k: s.in, ldw: s.in)
            }
        }
        self.packed = packed
        self.packedBF16 = packedBF16
    }

    /// The sequence rows' linear layers, by tensor name: W's [out, in].
    static func linearShapes(_ c: ModelConfig) -> [String: (out: Int, in: Int)] {
        var shapes: [String: (out: Int, in: Int)] = ["embed.sem": (c.d, c.dSem)]
        for l in 0..<c.layers {
            let p = "layers.\(l)."
            shapes[p + "attn.w_dkv"] = (c.rKV, c.d)
            shapes[p + "attn.w_uk"] = (c.hd, c.rKV)
            shapes[p + "attn.w_uv"] = (c.hd, c.rKV)
            shapes[p + "attn.w_dq"] = (c.rQ, c.d)
            shapes[p + "attn.w_uq"] = (c.hd, c.rQ)
            shapes[p + "attn.w_o"] = (c.d, c.hd)
            shapes[p + "mlp.w_gate"] = (c.ffn, c.d)
            shapes[p + "mlp.w_up"] = (c.ffn, c.d)
            shapes[p + "mlp.w_down"] = (c.d, c.ffn)
        }
        return shapes
    }

    /// c [m, W's out] = a [m, W's in] · Wᵀ for the linear layer `name`, or c + a · Wᵀ when
    /// `accumulate`: packed weights on the fused path (fp32 or bf16), OpenBLAS on the plain one.
    private func linear(_ name: String, m: Int, a: UnsafePointer<Float>, lda: Int, accumulate: Bool = false,
                        c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0 else { return }
        if let pw = packed[name] {
            PackedGemm.linear(m: m, a: a, lda: lda, w: pw, accumulate: accumulate, c: c, ldc: ldc)
        } else if let bw = packedBF16[name] {
            BF16Gemm.linear(m: m, a: a, lda: lda, w: bw, accumulate: accumulate, c: c, ldc: ldc)
        } else {
            let s = linearShapes[name]!
            Gemm.nt(m: m, n: s.out, k: s.in, a: a, lda: lda, b: w[name], ldb: s.in, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
        }
    }

    /// The worst cosine, per interest vector, between this checkpoint's embeddings with bf16 linear
    /// layers and with fp32, over 32 synthetic users each of 1, 2, 5, 17, 64 and up to 256 events
    /// (short histories are where bf16 strays most, as measured: docs/performance.md). Pipelines
    /// asked for bf16 refuse a checkpoint under `Precision.bf16MinimumCosine`. Only where
    /// `BF16Gemm.isSupported`.
    public static func bf16SelfCheck(_ checkpoint: Checkpoint, threads: Int) -> Double {
        let c = checkpoint.config
        let fp32 = Encoder(checkpoint: checkpoint), bf16 = Encoder(checkpoint: checkpoint, precision: .bf16)
        var worst = 1.0
        for n in Set([1, 2, 5, 17, 64, 256].map { min($0, c.nMax) }).sorted() {
            let users = EncoderBench.users(c, n: n, count: 32, seed: 0xBF16 &+ UInt64(n))
            worst = min(worst, Quality.worstInterestCosine(bf16.encode(users, threads: threads), fp32.encode(users, threads: threads),
                                                           interests: c.interests, interestDim: c.interestDim))
        }
        return worst
    }

    deinit { pools.withLock { for p in $0.values { p.shutdown() } } }

    private func pool(_ count: Int) -> WorkerPool {
        pools.withLock { p in
            if let existing = p[count] { return existing }
            let made = WorkerPool(count: count)
            p[count] = made
            return made
        }
    }

    private func workspace(_ slot: Int) -> Workspace {
        workspaces.withLock { list in
            while list.count <= slot { list.append(Workspace(config, plain: plainKernels)) }
            return list[slot]
        }
    }

    /// Encodes users on `threads` workers; z[i] is [K·D] for users[i] (not yet checked for finiteness).
    /// One call at a time per encoder (its workspaces belong to the call's workers).
    public func encode(_ users: [TokenizedUser], threads: Int = 1) -> [[Float]] {
        BLASThreads.set(1)
        let out = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: users.count)
        out.initialize(repeating: [])
        defer {
            _ = out.deinitialize()   // releases the arrays; `Array(out)` below holds its own references
            out.deallocate()
        }
        // Longest first, so the last users to finish are short ones.
        let order = users.indices.sorted { users[$0].n > users[$1].n }
        let next = NextIndex()
        let workers = max(1, threads)
        let sendableOut = SendablePointer(out)
        pool(workers).run { [self] slot in
            let ws = workspace(slot)
            while true {
                let i = next.value.add(1, ordering: .relaxed).oldValue
                if i >= order.count { break }
                let idx = order[i]
                var z = [Float](repeating: 0, count: config.outputWidth)
                z.withUnsafeMutableBufferPointer { encodeOne(users[idx], ws, $0.baseAddress!) }
                sendableOut.pointer[idx] = z
            }
        }
        return Array(out)
    }

    /// One user's forward pass into z [K·D].
    func encodeOne(_ user: TokenizedUser, _ ws: Workspace, _ z: UnsafeMutablePointer<Float>) {
        let c = config
        let n = user.n, nq = c.queryTokens, t = n + nq, d = c.d
        precondition(n <= c.nMax)
        embed(user, ws)
        for l in 0..<c.layers {
            layer(l, n: n, t: t, last: l == c.layers - 1, ws)
        }
        // Head: final RMSNorm of the Q query rows, flattened row by row (they are contiguous).
        let flat = ws.xn
        rmsNorm(rows: nq, width: d, x: ws.x + n * d, ldx: d, gain: w["final_norm"], out: flat, ldo: d)
        let a1 = ws.head, b1 = ws.head + c.loraRank, a2 = b1 + c.loraHidden
        Gemm.nt(m: 1, n: c.loraRank, k: nq * d, a: flat, lda: nq * d, b: w["head.a1"], ldb: nq * d, c: a1, ldc: c.loraRank)
        Gemm.nt(m: 1, n: c.loraHidden, k: c.loraRank, a: a1, lda: c.loraRank, b: w["head.b1"], ldb: c.loraRank, c: b1, ldc: c.loraHidden)
        Kernels.silu(count: c.loraHidden, x: b1)
        Gemm.nt(m: 1, n: c.loraRank, k: c.loraHidden, a: b1, lda: c.loraHidden, b: w["head.a2"], ldb: c.loraHidden, c: a2, ldc: c.loraRank)
        Gemm.nt(m: 1, n: c.outputWidth, k: c.loraRank, a: a2, lda: c.loraRank, b: w["head.b2"], ldb: c.loraRank, c: z, ldc: c.outputWidth)
    }

    /// x [n + Q, d]: sequence tokens then query tokens.
    private func embed(_ user: TokenizedUser, _ ws: Workspace) {
        let c = config, d = c.d, n = user.n
        let item = w["embed.item"], type = w["embed.event_type"], surface = w["embed.surface"], time = w["embed.time"]
        let meta = w["embed.meta"], missing = w["embed.sem_missing"]
        if n > 0 {
            // s_t (or sem_missing) rows, then s·W_semᵀ into xn [n, d].
            user.sem.withUnsafeBufferPointer { sem in
                for r in 0..<n {
                    let src = user.semMissing[r] ? missing : sem.baseAddress! + r * c.dSem
                    (ws.sem + r * c.dSem).update(from: src, count: c.dSem)
                }
            }
            linear("embed.sem", m: n, a: ws.sem, lda: c.dSem, c: ws.xn, ldc: d)
            for r in 0..<n {
                let e1 = item + Int(user.itemBucket[r]) * d, e2 = type + Int(user.typeIndex[r]) * d
                let e3 = surface + Int(user.surfaceIndex[r]) * d, e4 = time + Int(user.timeBucket[r]) * d
                let m0 = user.meta[2 * r], m1 = user.meta[2 * r + 1]
                let xr = ws.x + r * d, sr = ws.xn + r * d
                for j in 0..<d {
                    let metaPart = m0 * meta[2 * j] + m1 * meta[2 * j + 1]
                    xr[j] = e1[j] + e2[j] + e3[j] + e4[j] + sr[j] + metaPart
                }
            }
        }
        // q_i = P_i + f·W_userᵀ.
        let fw = ws.h
        user.f.withUnsafeBufferPointer { f in
            Gemm.nt(m: 1, n: d, k: c.dF, a: f.baseAddress!, lda: c.dF, b: w["query.user"], ldb: c.dF, c: fw, ldc: d)
        }
        let pos = w["query.pos"]
        for i in 0..<c.queryTokens {
            let xr = ws.x + (n + i) * d
            for j in 0..<d { xr[j] = pos[i * d + j] + fw[j] }
        }
    }

    /// One pre-norm layer over rows [0, t); the last layer computes only the query rows [n, t).
    private func layer(_ l: Int, n: Int, t: Int, last: Bool, _ ws: Workspace) {
        let c = config, d = c.d, hd = c.hd
        let p = "layers.\(l)."
        // Rows that produce output in this layer.
        let r0 = last ? n : 0, rows = t - r0
        rmsNorm(rows: t, width: d, x: ws.x, ldx: d, gain: w[p + "attn_norm"], out: ws.xn, ldo: d)
        // c_kv for every row; k and v from it, unless the last layer attends in latent space.
        let latent = last && !plainKernels && latentLastLayer
        linear(p + "attn.w_dkv", m: t, a: ws.xn, lda: d, c: ws.ckv, ldc: c.rKV)
        rmsNorm(rows: t, width: c.rKV, x: ws.ckv, ldx: c.rKV, gain: w[p + "attn.kv_norm"], out: ws.ckv, ldo: c.rKV)
        if !latent {
            linear(p + "attn.w_uk", m: t, a: ws.ckv, lda: c.rKV, c: ws.k, ldc: hd)
            linear(p + "attn.w_uv", m: t, a: ws.ckv, lda: c.rKV, c: ws.v, ldc: hd)
        }
        // c_q, q for the output rows only.
        linear(p + "attn.w_dq", m: rows, a: ws.xn + r0 * d, lda: d, c: ws.cq, ldc: c.rQ)
        rmsNorm(rows: rows, width: c.rQ, x: ws.cq, ldx: c.rQ, gain: w[p + "attn.q_norm"], out: ws.cq, ldo: c.rQ)
        linear(p + "attn.w_uq", m: rows, a: ws.cq, lda: c.rQ, c: ws.q, ldc: hd)
        // Attention per head: sequence rows see keys [0, n), query rows keys [0, t).
        let scale = 1 / Float(c.dHead).squareRoot()
        if plainKernels {
            attentionPlain(n: n, t: t, r0: r0, scale: scale, ws)
        } else if latent {
            latentAttention(l, t: t, scale: scale, ws)
        } else {
            for head in 0..<c.heads {
                let off = head * c.dHead
                Attention.packKeys(keys: t, dHead: c.dHead, k: ws.k + off, ldk: hd, into: ws.kp)
                Attention.packValues(keys: t, dHead: c.dHead, v: ws.v + off, ldv: hd, into: ws.vp)
                if r0 < n {
                    Attention.forward(rows: n - r0, keys: n, dHead: c.dHead, scale: scale, q: ws.q + off, ldq: hd,
                                      kp: ws.kp, vp: ws.vp, o: ws.o + off, ldo: hd, scratch: ws.attention)
                }
                let qr = (n - r0) * hd + off
                Attention.forward(rows: t - n, keys: t, dHead: c.dHead, scale: scale, q: ws.q + qr, ldq: hd,
                                  kp: ws.kp, vp: ws.vp, o: ws.o + qr, ldo: hd, scratch: ws.attention)
            }
        }
        // h = x + o·W_oᵀ (output rows), written over x's rows [r0, t).
        let xr = ws.x + r0 * d
        linear(p + "attn.w_o", m: rows, a: ws.o, lda: hd, accumulate: true, c: xr, ldc: d)
        // x' = h + W_down(SiLU(RMSNorm(h)·W_gateᵀ) ⊙ RMSNorm(h)·W_upᵀ).
        rmsNorm(rows: rows, width: d, x: xr, ldx: d, gain: w[p + "mlp_norm"], out: ws.xn, ldo: d)
        linear(p + "mlp.w_gate", m: rows, a: ws.xn, lda: d, c: ws.g, ldc: c.ffn)
        linear(p + "mlp.w_up", m: rows, a: ws.xn, lda: d, c: ws.u, ldc: c.ffn)
        if plainKernels {
            Kernels.siluGatePlain(count: rows * c.ffn, gate: ws.g, up: ws.u)
        } else {
            Kernels.siluGate(count: rows * c.ffn, gate: ws.g, up: ws.u)
        }
        linear(p + "mlp.w_down", m: rows, a: ws.g, lda: c.ffn, accumulate: true, c: xr, ldc: d)
    }

    /// The last layer's attention for its Q query rows, in MLA's latent space (the absorbed form):
    /// scores q_h·W_uk,h·c_kvᵀ and outputs (P·c_kv)·W_uv,hᵀ, so keys and values are never expanded
    /// for the sequence rows. Every head's query rows meet the shared latent keys in one product.
    private func latentAttention(_ l: Int, t: Int, scale: Float, _ ws: Workspace) {
        let c = config, hd = c.hd, dh = c.dHead, r = c.rKV, nq = c.queryTokens, hq = c.heads * nq
        let p = "layers.\(l)."
        let wuk = w[p + "attn.w_uk"], wuv = w[p + "attn.w_uv"]
        let qt = ws.latent, s = qt + hq * r, ob = s + hq * t
        for h in 0..<c.heads {
            // q̃_h [Q, r_kv] = q_h [Q, d_head] · W_uk,h [d_head, r_kv]
            Gemm.nn(m: nq, n: r, k: dh, a: ws.q + h * dh, lda: hd, b: wuk + h * dh * r, ldb: r, c: qt + h * nq * r, ldc: r)
        }
        // S [H·Q, t] = scale · q̃ · c_kvᵀ, then softmax per row; ō [H·Q, r_kv] = P · c_kv.
        Gemm.nt(m: hq, n: t, k: r, alpha: scale, a: qt, lda: r, b: ws.ckv, ldb: r, c: s, ldc: t)
        Kernels.softmaxRows(rows: hq, width: t, s: s, lds: t)
        Gemm.nn(m: hq, n: r, k: t, a: s, lda: t, b: ws.ckv, ldb: r, c: ob, ldc: r)
        for h in 0..<c.heads {
            // o_h [Q, d_head] = ō_h [Q, r_kv] · W_uv,hᵀ
            Gemm.nt(m: nq, n: dh, k: r, a: ob + h * nq * r, lda: r, b: wuv + h * dh * r, ldb: r, c: ws.o + h * dh, ldc: hd)
        }
    }

    /// The plain twin of the fused attention: per head, row tiles of scores by `cblas_sgemm`, the
    /// plain softmax, then weights times values by `cblas_sgemm`.
    private func attentionPlain(n: Int, t: Int, r0: Int, scale: Float, _ ws: Workspace) {
        let c = config, hd = c.hd
        guard let scores = ws.scores else { preconditionFailure("plain workspace without a score tile") }
        for head in 0..<c.heads {
            let off = head * c.dHead
            var a = r0
            while a < t {
                let segmentEnd = a < n ? n : t
                let b = min(a + Workspace.tileRows, segmentEnd)
                let keys = a < n ? n : t
                let m = b - a
                Gemm.nt(m: m, n: keys, k: c.dHead, alpha: scale, a: ws.q + (a - r0) * hd + off, lda: hd,
                        b: ws.k + off, ldb: hd, c: scores, ldc: keys)
                Kernels.softmaxRowsPlain(rows: m, width: keys, s: scores, lds: keys)
                Gemm.nn(m: m, n: c.dHead, k: keys, a: scores, lda: keys, b: ws.v + off, ldb: hd,
                        c: ws.o + (a - r0) * hd + off, ldc: hd)
                a = b
            }
        }
    }

    @inline(__always)
    private func rmsNorm(rows: Int, width: Int, x: UnsafePointer<Float>, ldx: Int, gain: UnsafePointer<Float>,
                         out: UnsafeMutablePointer<Float>, ldo: Int) {
        if plainKernels {
            Kernels.rmsNormPlain(rows: rows, width: width, x: x, ldx: ldx, gain: gain, out: out, ldo: ldo)
        } else {
            Kernels.rmsNorm(rows: rows, width: width, x: x, ldx: ldx, gain: gain, out: out, ldo: ldo)
        }
    }
}

/// The next user index for workers to take.
final class NextIndex: Sendable {
    let value = Atomic<Int>(0)
}

/// A pointer handed to worker threads that write disjoint elements.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutableBufferPointer<T>
    init(_ p: UnsafeMutableBufferPointer<T>) { pointer = p }
}
