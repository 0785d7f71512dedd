// glibc allocator controls (malloc_trim), not in Swift's Glibc module.
#include <malloc.h>
