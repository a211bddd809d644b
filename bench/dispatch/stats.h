/* Shared by the benchmark tools: sorting and nearest-rank percentiles. */
#ifndef HD_BENCH_STATS_H
#define HD_BENCH_STATS_H

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* nearest rank: the smallest value with at least p% of samples <= it */
static inline double pct(const double *v, long n, double p)
{
	if (n <= 0)
		return 0;
	long k = (long)((p / 100.0) * (double)n + 0.999999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

#endif
