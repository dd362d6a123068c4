/* A plain C true-LRU TLB: the baseline of benchmarks/bench_tlb.py (real-trace comparison).
 *
 * 16 sets x 4 ways of 4 KiB pages, indexed by the low 4 bits of the page number, every access
 * a lookup and, on a miss, a fill of the least recently used way. Each set keeps its pages in
 * recency order (way 0 the most recent): a hit moves its page to the front, a miss shifts the
 * set down by one (dropping the LRU page) and puts the new page in front.
 *
 * Usage: lru_tlb PAGES.bin [REPEATS]
 *   PAGES.bin: native-endian uint64 page numbers, one per access.
 * Prints "misses N cpu_ns T": the miss count and the best (lowest) process CPU time of the
 * simulation loop over REPEATS runs from a cold TLB (default 5). Only the loop is timed: not
 * reading the file, not process start.
 *
 * Build: gcc -O2 -o lru_tlb lru_tlb.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SETS 16
#define WAYS 4
#define EMPTY UINT64_MAX /* no valid page number is 2**64 - 1 (pages are va >> 12) */

static uint64_t simulate(const uint64_t *page, size_t n)
{
    uint64_t set[SETS][WAYS];
    uint64_t misses = 0;
    for (int s = 0; s < SETS; s++)
        for (int w = 0; w < WAYS; w++)
            set[s][w] = EMPTY;
    for (size_t i = 0; i < n; i++) {
        uint64_t p = page[i];
        uint64_t *e = set[p & (SETS - 1)];
        int w = 0;
        while (w < WAYS && e[w] != p)
            w++;
        if (w == WAYS) { /* miss: fill, evicting the least recently used page */
            misses++;
            w = WAYS - 1;
        }
        for (; w > 0; w--) /* a hit at w (or the fill) becomes the most recent */
            e[w] = e[w - 1];
        e[0] = p;
    }
    return misses;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PAGES.bin [REPEATS]\n", argv[0]);
        return 2;
    }
    int repeats = argc == 3 ? atoi(argv[2]) : 5;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t n = (size_t)bytes / sizeof(uint64_t);
    uint64_t *page = malloc(n * sizeof(uint64_t) + 1);
    if (!page || fread(page, sizeof(uint64_t), n, f) != n) {
        fprintf(stderr, "%s: cannot read %zu page numbers\n", argv[1], n);
        return 1;
    }
    fclose(f);
    uint64_t misses = 0;
    long long best = -1;
    for (int r = 0; r < repeats; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        __asm__ volatile("" ::: "memory"); /* the pages may have changed: simulate again */
        misses = simulate(page, n);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
        if (best < 0 || ns < best)
            best = ns;
    }
    printf("misses %llu cpu_ns %lld\n", (unsigned long long)misses, best);
    free(page);
    return 0;
}
