// Tracing multi links (BPF_TRACE_FENTRY_MULTI / _FEXIT_MULTI, seen in Debian's 7.x kernels):
// raw syscalls, since libbpf 1.1 knows neither the attach types nor the attr's layout. Shared by
// the loader and the empty-probe floor (user/bench/empty_probes.cpp).
#pragma once

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

namespace iommuprof {

// A value of one of the kernel's enums by name, from its BTF (-1: not there).
inline int btf_enum_value(const btf *vmlinux, const char *enum_name, std::string_view name)
{
    int id = btf__find_by_name_kind(vmlinux, enum_name, BTF_KIND_ENUM);
    const btf_type *t = id > 0 ? btf__type_by_id(vmlinux, id) : nullptr;
    if (!t)
        return -1;
    const struct btf_enum *e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); i++)
        if (std::string_view(btf__name_by_offset(vmlinux, e[i].name_off)) == name)
            return e[i].val;
    return -1;
}

// A value of the kernel's enum bpf_attach_type by name (0: not there).
inline int attach_type_value(const btf *vmlinux, const char *name)
{
    int v = btf_enum_value(vmlinux, "bpf_attach_type", name);
    return v < 0 ? 0 : v;
}

// BPF_LINK_CREATE of a tracing multi link of type attach_type: prog on the functions ids
// (vmlinux BTF), each with its cookie (link_create.tracing_multi = { __u64 ids; __u64 cookies;
// __u32 cnt } after the common part). The link's fd, or -1 with errno.
inline int tracing_multi_link(int prog_fd, int attach_type, const std::vector<__u32> &ids,
                              const std::vector<__u64> &cookies)
{
    if (ids.empty() || ids.size() != cookies.size()) {
        errno = EINVAL;
        return -1;
    }
    struct {
        __u32 prog_fd, target_fd, attach_type, flags;
        __u64 ids, cookies;
        __u32 cnt, pad;
    } a{};
    static_assert(sizeof(a) <= sizeof(bpf_attr));
    bpf_attr attr{};
    a.prog_fd = __u32(prog_fd);
    a.attach_type = __u32(attach_type);
    a.ids = reinterpret_cast<__u64>(ids.data());
    a.cookies = reinterpret_cast<__u64>(cookies.data());
    a.cnt = __u32(ids.size());
    memcpy(&attr, &a, sizeof(a));
    return int(syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr)));
}

}  // namespace iommuprof
