// Linked into the native ferry on Linux (Ferry.Cli.csproj, FerryHugePageStart). Asks the kernel to back the
// executable's zero-filled data with transparent huge pages before anything writes it.
//
// Why: a position-independent Native AOT executable keeps its type data compressed in the file and expands it at every
// start into about 5 MB of zero-filled memory (the ".hydrated" section, at the end of the writable segment). Written
// 4 KiB at a time that is one page fault per page, about 1,200 of them, and on a virtual machine the largest single
// cost of a start (docs/benchmarks.md, "twelfth round"). With MADV_HUGEPAGE each 2 MiB block of it that lies whole
// inside the mapping is one fault. The expansion writes the data in full at every start, so no page becomes resident
// that would not have been: idle memory does not change.
//
// It runs as a constructor of the highest priority, before the runtime's own initialisers, and the runtime expands the
// data after them. Where the kernel has no transparent huge pages (or they are set to "never"), madvise fails or has no
// effect and the start is as it was: nothing depends on it.
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static int advise_zero_filled(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
    {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || segment->p_memsz <= segment->p_filesz)
            continue;
        // The zero-filled part starts on the page after the segment's last byte from the file: that page holds file
        // data and is not part of the anonymous mapping.
        const uintptr_t begin = info->dlpi_addr + segment->p_vaddr;
        const uintptr_t start = (begin + segment->p_filesz + page - 1) & ~(page - 1);
        const uintptr_t end = (begin + segment->p_memsz + page - 1) & ~(page - 1);
        if (end > start)
            (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
    return 1; // the first object dl_iterate_phdr reports is the executable; its libraries are not ours to advise
}

__attribute__((constructor(101))) static void ferry_huge_page_start(void)
{
    (void)dl_iterate_phdr(advise_zero_filled, NULL);
}
