// The three builds of bpf/iommuprof.bpf.c (the file says why): the main one, the fsession one
// (IP_FSESSION: the only one that declares the fsession kfunc, which libbpf 1.1 refuses a whole
// object for on kernels whose kfunc of that name differs) and the one for kernels before 5.12
// (IP_LEGACY: no global functions with pointer arguments). They have the same programs, maps and
// variables, so the main skeleton serves all three: its ELF is swapped before open. Shared by the
// loader and the host BPF tests.
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdlib>

#include "iommuprof.skel.h"
#include "iommuprof_fs.skel.h"
#include "iommuprof_legacy.skel.h"

namespace iommuprof {

enum class BpfBuild { Main, Fsession, Legacy };

// The skeleton, opened on build b's object; nullptr with errno set on failure.
inline iommuprof_bpf *open_bpf_build(BpfBuild b)
{
    if (b == BpfBuild::Main)
        return iommuprof_bpf__open();
    auto *obj = static_cast<iommuprof_bpf *>(calloc(1, sizeof(iommuprof_bpf)));
    if (!obj) {
        errno = ENOMEM;
        return nullptr;
    }
    int err = iommuprof_bpf__create_skeleton(obj);
    if (!err) {
        size_t sz = 0;
        obj->skeleton->data = const_cast<void *>(b == BpfBuild::Fsession ? iommuprof_fs_bpf__elf_bytes(&sz)
                                                                         : iommuprof_legacy_bpf__elf_bytes(&sz));
        obj->skeleton->data_sz = sz;
        err = bpf_object__open_skeleton(obj->skeleton, nullptr);
    }
    if (err) {
        iommuprof_bpf__destroy(obj);
        errno = err < 0 ? -err : err;
        return nullptr;
    }
    return obj;
}

}  // namespace iommuprof
