#if canImport(Glibc)
import CMalloc
#endif

/// Hands the allocator's free pages back to the system. A batch touching many users leaves its
/// per-user allocations freed all over the heap, and glibc returns only the heap's top on its own:
/// without this, resident memory grew with every batch of short histories while live data stayed
/// flat (docs/performance.md, Memory). A no-op where the C library is not glibc.
public func releaseFreedMemory() {
    #if canImport(Glibc)
    _ = malloc_trim(0)
    #endif
}
