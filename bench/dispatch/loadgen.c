/*
 * loadgen: a small closed-loop HTTP load generator for bench/dispatch.
 *
 * C threads, each with its own libcurl easy handle (so each keeps one
 * keep-alive connection), take request numbers from a shared counter until
 * N requests were issued or the time limit passed. Every response must be
 * HTTP 200 (and contain the -e string if given); anything else is counted
 * as a failure, reported on stderr, and makes the run invalid (exit 1).
 *
 * In the body, every occurrence of @SEQ@ is replaced by a 16-digit request
 * number (seed + i), so each request carries different content. Digits are
 * base64 characters and 16 is a multiple of 4, so a @SEQ@ at the start of
 * a base64 string keeps it valid and keeps the decoded length.
 *
 * Output: one line of key=value pairs on stdout:
 *   label=.. conc=C n=.. ok=.. fail=.. secs=.. rps=.. p50=.. p90=.. p99=.. max=..
 * (latencies in milliseconds, nearest-rank percentiles, rps = ok / wall time).
 *
 * usage: loadgen [-c C] [-n N] [-t SECS] [-X METHOD] [-H HEADER]... [-d BODY | -D FILE]
 *                [-e EXPECT] [-s SEED] [-l LABEL] [-k] URL
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

#define SEQ_TOKEN "@SEQ@"
#define SEQ_DIGITS 16
#define MAX_HEADERS 16
#define RESP_MAX (64 * 1024)
#define FAIL_REPORT_MAX 5

static const char *url;
static const char *method;
static const char *body_tmpl;
static size_t body_tmpl_len;
static const char *expect;
static const char *headers[MAX_HEADERS];
static int nheaders;
static long nreq = 1000;
static double time_limit;      /* seconds, 0 = none */
static unsigned long long seed;
static int no_reuse;

static atomic_long next_req;
static atomic_long nfail;
static atomic_long ndone;
static atomic_int fail_reported;
static double *lat_ms;          /* indexed by request number; <0 = failed */
static double t_start;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

struct resp {
	char buf[RESP_MAX + 1];
	size_t len;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct resp *r = arg;
	size_t n = sz * nm, room = RESP_MAX - r->len;
	memcpy(r->buf + r->len, p, n < room ? n : room);
	r->len += n < room ? n : room;
	return n;
}

/* Body for request number seq: the template with each @SEQ@ replaced. */
static size_t make_body(char *out, unsigned long long seq)
{
	char digits[SEQ_DIGITS + 8];
	snprintf(digits, sizeof digits, "%0*llu", SEQ_DIGITS, seq % 10000000000000000ULL);
	size_t o = 0, toklen = strlen(SEQ_TOKEN);
	for (size_t i = 0; i < body_tmpl_len;) {
		if (body_tmpl_len - i >= toklen && !memcmp(body_tmpl + i, SEQ_TOKEN, toklen)) {
			memcpy(out + o, digits, SEQ_DIGITS);
			o += SEQ_DIGITS;
			i += toklen;
		} else {
			out[o++] = body_tmpl[i++];
		}
	}
	out[o] = '\0';
	return o;
}

static void report_failure(long i, const char *why, long code, const struct resp *r)
{
	atomic_fetch_add(&nfail, 1);
	if (atomic_fetch_add(&fail_reported, 1) < FAIL_REPORT_MAX)
		fprintf(stderr, "loadgen: request %ld failed: %s (HTTP %ld): %.300s\n", i, why, code,
			r ? r->buf : "");
}

static void *client(void *arg)
{
	(void)arg;
	CURL *h = curl_easy_init();
	if (!h)
		die("curl_easy_init failed");
	struct curl_slist *hl = NULL;
	for (int i = 0; i < nheaders; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (body_tmpl)
		hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
	struct resp *r = malloc(sizeof *r);
	/* each @SEQ@ (5 bytes) grows to 16 bytes at most */
	char *body = body_tmpl ? malloc(body_tmpl_len * 4 + 1) : NULL;
	if (!r || (body_tmpl && !body))
		die("out of memory");

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, (long)no_reuse);
	if (method)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

	for (;;) {
		if (time_limit > 0 && now_s() - t_start >= time_limit)
			break;
		long i = atomic_fetch_add(&next_req, 1);
		if (i >= nreq)
			break;
		if (body) {
			size_t blen = make_body(body, seed + (unsigned long long)i);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)blen);
		}
		r->len = 0;
		r->buf[0] = '\0';
		double t0 = now_s();
		CURLcode rc = curl_easy_perform(h);
		double t1 = now_s();
		while (r->len > 0 && (r->buf[r->len - 1] == '\n' || r->buf[r->len - 1] == '\r'))
			r->len--;
		r->buf[r->len] = '\0';
		long code = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		lat_ms[i] = -1;
		if (rc != CURLE_OK)
			report_failure(i, curl_easy_strerror(rc), code, NULL);
		else if (code != 200)
			report_failure(i, "status is not 200", code, r);
		else if (expect && !strstr(r->buf, expect))
			report_failure(i, "response lacks the expected text", code, r);
		else
			lat_ms[i] = (t1 - t0) * 1e3;
		atomic_fetch_add(&ndone, 1);
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	free(body);
	free(r);
	return NULL;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open %s", path);
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	size_t got;
	while (b && (got = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n < 2) {
			char *nb = realloc(b, cap * 2);
			if (!nb)
				free(b);
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!b)
		die("out of memory");
	b[n] = '\0';
	*len = n;
	return b;
}

static double num(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end)
		die("not a number: %s", s);
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen [-c C] [-n N] [-t SECS] [-X METHOD] [-H HEADER]... "
			"[-d BODY | -D FILE] [-e EXPECT] [-s SEED] [-l LABEL] [-k] URL\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int conc = 1, opt;
	const char *label = "run";
	seed = (unsigned long long)time(NULL) * 1000000ULL;
	while ((opt = getopt(argc, argv, "c:n:t:X:H:d:D:e:s:l:k")) != -1) {
		switch (opt) {
		case 'c': conc = (int)num(optarg); break;
		case 'n': nreq = (long)num(optarg); break;
		case 't': time_limit = num(optarg); break;
		case 'X': method = optarg; break;
		case 'H':
			if (nheaders == MAX_HEADERS)
				die("too many -H");
			headers[nheaders++] = optarg;
			break;
		case 'd': body_tmpl = optarg; body_tmpl_len = strlen(optarg); break;
		case 'D': body_tmpl = slurp(optarg, &body_tmpl_len); break;
		case 'e': expect = optarg; break;
		case 's': seed = (unsigned long long)num(optarg); break;
		case 'l': label = optarg; break;
		case 'k': no_reuse = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || conc < 1 || conc > 1024 || nreq < 1)
		usage();
	url = argv[optind];

	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		die("curl_global_init failed");
	lat_ms = calloc((size_t)nreq, sizeof *lat_ms);
	pthread_t *th = calloc((size_t)conc, sizeof *th);
	if (!lat_ms || !th)
		die("out of memory");

	t_start = now_s();
	for (int i = 0; i < conc; i++) {
		int e = pthread_create(&th[i], NULL, client, NULL);
		if (e)
			die("pthread_create: %s", strerror(e));
	}
	for (int i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	double secs = now_s() - t_start;

	long done = atomic_load(&ndone), fail = atomic_load(&nfail), ok = 0;
	/* compact the successful samples (requests 0..done-1 were all issued) */
	for (long i = 0; i < done; i++)
		if (lat_ms[i] >= 0)
			lat_ms[ok++] = lat_ms[i];
	qsort(lat_ms, (size_t)ok, sizeof *lat_ms, cmp_double);
	printf("label=%s conc=%d n=%ld ok=%ld fail=%ld secs=%.3f rps=%.1f p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
	       label, conc, done, ok, fail, secs, secs > 0 ? (double)ok / secs : 0, pct(lat_ms, ok, 50),
	       pct(lat_ms, ok, 90), pct(lat_ms, ok, 99), ok ? lat_ms[ok - 1] : 0);
	fflush(stdout);
	free(lat_ms);
	free(th);
	curl_global_cleanup();
	return fail == 0 && ok > 0 ? 0 : 1;
}
