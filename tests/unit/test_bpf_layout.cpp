// The layout shared with the BPF side (bpf/iommuprof.h): sizes and the hists map sizing rule.
#include <gtest/gtest.h>

#include "iommuprof.h"

TEST(BpfLayout, HistEntriesFitTheMemoryBudget)
{
    EXPECT_EQ(ip_hist_entries_for(2), unsigned(IP_HIST_ENTRIES)) << "small hosts get every entry";
    EXPECT_EQ(ip_hist_entries_for(0), unsigned(IP_HIST_ENTRIES));
    for (unsigned cpus : {1u, 2u, 16u, 27u, 28u, 64u, 128u, 224u, 512u, 4096u}) {
        unsigned n = ip_hist_entries_for(cpus);
        EXPECT_GE(n, unsigned(IP_HIST_MIN_ENTRIES)) << cpus;
        EXPECT_LE(n, unsigned(IP_HIST_ENTRIES)) << cpus;
        if (n > IP_HIST_MIN_ENTRIES) {
            EXPECT_LE(uint64_t(n) * sizeof(ip_hist) * cpus, IP_HIST_BUDGET) << cpus;
        }
        if (n < IP_HIST_ENTRIES && n > IP_HIST_MIN_ENTRIES) {
            EXPECT_GT(uint64_t(n + 1) * sizeof(ip_hist) * cpus, IP_HIST_BUDGET) << "as many as fit: " << cpus;
        }
    }
    EXPECT_EQ(ip_hist_entries_for(64), unsigned(IP_HIST_BUDGET / (sizeof(ip_hist) * 64)));
    EXPECT_EQ(ip_hist_entries_for(4096), unsigned(IP_HIST_MIN_ENTRIES));
}

TEST(BpfLayout, RowsFitTheMemoryBudget)
{
    EXPECT_EQ(ip_rows_for(2, 30), unsigned(IP_MAX_ROWS)) << "small hosts: every row";
    for (unsigned cpus : {1u, 8u, 64u, 128u, 512u, 8192u})
        for (unsigned cols : {1u, 20u, 40u, 64u}) {
            unsigned n = ip_rows_for(cpus, cols);
            EXPECT_LE(n, unsigned(IP_MAX_ROWS));
            EXPECT_LE(uint64_t(n) * cols * cpus * sizeof(ip_hist), IP_ROWS_BUDGET) << cpus << "x" << cols;
            if (n < IP_MAX_ROWS) {
                EXPECT_GT(uint64_t(n + 1) * cols * cpus * sizeof(ip_hist), IP_ROWS_BUDGET) << "as many as fit";
            }
        }
    EXPECT_EQ(ip_rows_for(8192, 64), 0u) << "not even one row: hash map only";
}

TEST(BpfLayout, SharedStructsHaveNoHiddenPadding)
{
    // The loader reads these from the maps byte for byte.
    EXPECT_EQ(sizeof(ip_hist_key), 16u);
    EXPECT_EQ(sizeof(ip_hist), (10 + IP_BUCKETS) * 8u);
    EXPECT_EQ(sizeof(ip_slot_cfg), 8u);
    EXPECT_EQ(sizeof(ip_frame), 72u);  // 9 words: ts, sp, dev, bytes, slot+cpu, 3 marks, row+done_mark
}
