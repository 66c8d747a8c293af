// Linked into the native ferry on Linux (Ferry.Cli.csproj, FerryHugePageStart). Prepares the executable's zero-filled
// data before anything writes it: transparent huge pages where they fit, and every other page of the type data faulted
// in by one call.
//
// Why: a position-independent Native AOT executable keeps its type data compressed in the file and expands it at every
// start into about 5 MB of zero-filled memory (the ".hydrated" section, at the end of the writable segment). Written
// 4 KiB at a time that is one page fault per page, about 1,200 of them, and on a virtual machine the largest single
// cost of a start (docs/benchmarks.md, "twelfth round"). With MADV_HUGEPAGE each 2 MiB block of it that lies whole
// inside the mapping is one fault. The pages outside those blocks (where ASLR puts the image decides how many: 1 to 3
// MiB) are then faulted in by one MADV_POPULATE_WRITE over the .hydrated section alone ("thirteenth round"): the kernel
// fills them in one pass instead of taking a trap per page. Only that section: the expansion writes it in full at
// every start, so no page becomes resident that would not have been (the .bss before it is mostly never written, and
// is left alone). Idle memory does not change.
//
// It runs as a constructor of the highest priority, before the runtime's own initialisers, and the runtime expands the
// data after them. Where the kernel has no transparent huge pages, or no MADV_POPULATE_WRITE (before Linux 5.14), or
// the section cannot be found, madvise fails or is skipped and the start is as it was: nothing depends on it.
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// The .hydrated section's address in the file's terms (before the load bias) and its size; 0 when not found. Section
// headers are not loaded into memory, so they are read from the executable itself (a few reads of pages the kernel
// already holds).
static int find_hydrated(ElfW(Addr) *address, ElfW(Xword) *size)
{
    static const char name[] = ".hydrated";
    int found = 0;
    const int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ElfW(Ehdr) header;
    ElfW(Shdr) sections[128];
    char names[4096];
    if (pread(fd, &header, sizeof header, 0) != (ssize_t)sizeof header
        || memcmp(header.e_ident, ELFMAG, SELFMAG) != 0
        || header.e_shentsize != sizeof(ElfW(Shdr))
        || header.e_shnum == 0 || header.e_shnum > sizeof sections / sizeof sections[0]
        || header.e_shstrndx >= header.e_shnum)
        goto done;
    const size_t table = (size_t)header.e_shnum * sizeof(ElfW(Shdr));
    if (pread(fd, sections, table, (off_t)header.e_shoff) != (ssize_t)table)
        goto done;
    const ElfW(Shdr) *strings = &sections[header.e_shstrndx];
    const size_t length = strings->sh_size < sizeof names ? strings->sh_size : sizeof names;
    if (pread(fd, names, length, (off_t)strings->sh_offset) != (ssize_t)length)
        goto done;
    for (ElfW(Half) i = 0; i < header.e_shnum && !found; i++)
    {
        const ElfW(Word) at = sections[i].sh_name;
        if (sections[i].sh_type == SHT_NOBITS && at < length && length - at >= sizeof name
            && memcmp(names + at, name, sizeof name) == 0)
        {
            *address = sections[i].sh_addr;
            *size = sections[i].sh_size;
            found = 1;
        }
    }
done:
    close(fd);
    return found;
}

static int prepare_zero_filled(struct dl_phdr_info *info, size_t size, void *data)
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
    ElfW(Addr) address;
    ElfW(Xword) length;
    if (find_hydrated(&address, &length) && length > 0)
    {
        // The first page may be shared with the .bss before it; the section's writes touch it anyway.
        const uintptr_t start = (info->dlpi_addr + address) & ~(page - 1);
        const uintptr_t end = (info->dlpi_addr + address + length + page - 1) & ~(page - 1);
        (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
    }
    return 1; // the first object dl_iterate_phdr reports is the executable; its libraries are not ours to advise
}

__attribute__((constructor(101))) static void ferry_prepare_zero_filled(void)
{
    (void)dl_iterate_phdr(prepare_zero_filled, NULL);
}
