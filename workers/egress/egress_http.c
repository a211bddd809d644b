/*
 * One http.fetch inside egress: check the template, vet the target, get
 * the secrets its placeholders name from the vault (for this caller and
 * this host only), send it with libcurl pinned to the vetted addresses,
 * follow redirects by vetting each hop again, and scrub every secret from
 * what goes back. The secrets live in locked pages and are wiped when the
 * request ends.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "egress.h"
#include "common/b64.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/utf8.h"
#include "common/util.h"
#include "workers/egress/placeholder.h"
#include "workers/egress/scrub.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HREQ_MAX 64
#define HREQ_HEADERS_MAX 64
#define HREQ_SECRETS_MAX 16
#define HREQ_REDIRECTS_MAX 5
#define HREQ_RESP_HEADERS_MAX (256u << 10)
#define HREQ_DEFAULT_MAX_BYTES (1u << 20)
#define HREQ_MAX_BYTES_LIMIT (8u << 20)

struct hsecret {
	char name[PH_NAME_MAX + 1];
	uint8_t *val;           /* locked, not dumped */
	size_t len, maplen;
	uint32_t link_id;
	int got;
};

struct hheader {
	char *name, *value;     /* value is the template */
	int has_ph;
};

struct hreq {
	uint32_t sup_id;
	char actor[128], client[128], pack[128];
	uint64_t deadline_ms;
	char method[8];
	char *url;              /* this hop's URL: the template at hop 0 */
	struct hheader hdrs[HREQ_HEADERS_MAX];
	int nhdrs;
	char *body;             /* template, or NULL */
	size_t body_len;
	size_t max_bytes;
	int follow;
	struct hsecret secs[HREQ_SECRETS_MAX];
	int nsecs, secs_pending;
	struct egress_target target;
	char origin[300];       /* scheme://host:port of hop 0 */
	int hop, cross_origin;
	/* the transfer */
	CURL *easy;
	struct curl_slist *hl, *resolve;
	char *sent_url, *sent_body;
	size_t sent_body_len;
	struct buf rbody, rhdrs;
	int over_cap, pin_violation;
	char errbuf[CURL_ERROR_SIZE];
};

static struct hreq *hreqs[HREQ_MAX];

/* ---- secrets in locked pages ---- */

static uint8_t *secret_alloc(size_t n, size_t *maplen) { return secmem_alloc(n, maplen); }

static void wipe_free(char *s, size_t n)
{
	if (s) {
		explicit_bzero(s, n);
		free(s);
	}
}

static void hreq_free_transfer(struct hreq *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	r->easy = NULL;
	for (struct curl_slist *l = r->hl; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(r->hl);
	curl_slist_free_all(r->resolve);
	r->hl = r->resolve = NULL;
	wipe_free(r->sent_url, r->sent_url ? strlen(r->sent_url) : 0);
	wipe_free(r->sent_body, r->sent_body_len);
	r->sent_url = r->sent_body = NULL;
	buf_free(&r->rbody);
	buf_free(&r->rhdrs);
	r->over_cap = r->pin_violation = 0;
}

static void hreq_free(struct hreq *r)
{
	for (int i = 0; i < HREQ_MAX; i++)
		if (hreqs[i] == r)
			hreqs[i] = NULL;
	hreq_free_transfer(r);
	for (int i = 0; i < r->nsecs; i++)
		secmem_free(r->secs[i].val, r->secs[i].maplen);
	for (int i = 0; i < r->nhdrs; i++) {
		free(r->hdrs[i].name);
		free(r->hdrs[i].value);
	}
	free(r->url);
	free(r->body);
	free(r);
}

static void hreq_fail(struct hreq *r, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void hreq_fail(struct hreq *r, const char *code, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	egress_reply(r->sup_id, 0, code, msg, NULL);
	hreq_free(r);
}

/* ---- checking the template ---- */

static int header_name_ok(const char *n)
{
	static const char *const forbidden[] = {"host", "content-length", "transfer-encoding", "connection",
						"keep-alive", "proxy-authorization", "proxy-connection", "te",
						"trailer", "upgrade", "expect"};
	size_t len = strlen(n);
	if (len == 0 || len > 128)
		return 0;
	for (const char *p = n; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+.^_`|~-", *p))
			return 0;
	for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
		if (!strcasecmp(n, forbidden[i]))
			return 0;
	return 1;
}

static int value_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
			return 0;
	return 1;
}

static int collect_name(const char *name, size_t nlen, void *arg)
{
	struct hreq *r = arg;
	for (int i = 0; i < r->nsecs; i++)
		if (strlen(r->secs[i].name) == nlen && !memcmp(r->secs[i].name, name, nlen))
			return 0;
	if (r->nsecs == HREQ_SECRETS_MAX)
		return -1;
	memcpy(r->secs[r->nsecs].name, name, nlen);
	r->secs[r->nsecs].name[nlen] = '\0';
	r->nsecs++;
	return 0;
}

/* A placeholder may not sit in the scheme or the authority: the host the
 * guard vets and the vault matches must be the host the request goes to. */
static int authority_has_placeholder(const char *url)
{
	const char *s = strstr(url, "://");
	const char *auth = s ? s + 3 : url;
	size_t end = strcspn(auth, "/?#");
	const char *ph = strstr(url, "${vault:");
	return ph && ph < auth + end;
}

static int hreq_parse(struct hreq *r, const uint8_t *req, size_t len, char *why, size_t wlen)
{
	json_error_t je;
	json_t *o = json_loadb((const char *)req, len, JSON_REJECT_DUPLICATES, &je);
	int rc = -1;
	if (!o || !json_is_object(o)) {
		snprintf(why, wlen, "the request is not a JSON object");
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		if (strcmp(key, "url") && strcmp(key, "method") && strcmp(key, "headers") && strcmp(key, "body") &&
		    strcmp(key, "max_bytes") && strcmp(key, "follow_redirects") && strcmp(key, "timeout_s")) {
			snprintf(why, wlen, "unknown field %.64s", key);
			goto out;
		}
	}
	const char *url = json_string_value(json_object_get(o, "url"));
	if (!url || !*url || strlen(url) > 8192) {
		snprintf(why, wlen, "url must be a string of 1 to 8192 characters");
		goto out;
	}
	if (authority_has_placeholder(url)) {
		snprintf(why, wlen, "a ${vault:...} placeholder may not be in the URL's scheme or host");
		goto out;
	}
	r->url = xstrdup(url);
	json_t *m = json_object_get(o, "method");
	const char *meth = m ? json_string_value(m) : "GET";
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
	int mok = 0;
	for (size_t i = 0; meth && i < sizeof methods / sizeof methods[0]; i++)
		mok |= !strcmp(meth, methods[i]);
	if (!mok) {
		snprintf(why, wlen, "method must be one of GET HEAD POST PUT PATCH DELETE OPTIONS");
		goto out;
	}
	snprintf(r->method, sizeof r->method, "%s", meth);
	json_t *h = json_object_get(o, "headers");
	if (h && !json_is_object(h)) {
		snprintf(why, wlen, "headers must be an object of strings");
		goto out;
	}
	json_object_foreach(h, key, v) {
		const char *val = json_string_value(v);
		if (r->nhdrs == HREQ_HEADERS_MAX || !val || !header_name_ok(key) || !value_ok(val, strlen(val)) ||
		    strlen(val) > 8192) {
			snprintf(why, wlen, "header %.64s is not allowed here (a token name, not a hop-by-hop or "
				 "framing header, a value without CR/LF)", key);
			goto out;
		}
		struct hheader *hd = &r->hdrs[r->nhdrs++];
		hd->name = xstrdup(key);
		hd->value = xstrdup(val);
		int n = ph_scan(val, strlen(val), collect_name, r);
		if (n < 0) {
			snprintf(why, wlen, "header %.64s has a malformed ${vault:NAME} placeholder (or more than %d names)",
				 key, HREQ_SECRETS_MAX);
			goto out;
		}
		hd->has_ph = n > 0;
	}
	json_t *b = json_object_get(o, "body");
	if (b) {
		if (!json_is_string(b) || json_string_length(b) > (4u << 20)) {
			snprintf(why, wlen, "body must be a string of at most 4 MiB");
			goto out;
		}
		r->body_len = json_string_length(b);
		r->body = xmalloc(r->body_len + 1);
		memcpy(r->body, json_string_value(b), r->body_len + 1);
		if (ph_scan(r->body, r->body_len, collect_name, r) < 0) {
			snprintf(why, wlen, "the body has a malformed ${vault:NAME} placeholder");
			goto out;
		}
	}
	if (ph_scan(r->url, strlen(r->url), collect_name, r) < 0) {
		snprintf(why, wlen, "the url has a malformed ${vault:NAME} placeholder");
		goto out;
	}
	json_t *mb = json_object_get(o, "max_bytes");
	r->max_bytes = HREQ_DEFAULT_MAX_BYTES;
	if (mb) {
		if (!json_is_integer(mb) || json_integer_value(mb) < 1 || json_integer_value(mb) > HREQ_MAX_BYTES_LIMIT) {
			snprintf(why, wlen, "max_bytes must be an integer from 1 to %u", HREQ_MAX_BYTES_LIMIT);
			goto out;
		}
		r->max_bytes = (size_t)json_integer_value(mb);
	}
	json_t *f = json_object_get(o, "follow_redirects");
	r->follow = !f || json_is_true(f);
	/* the caller's budget for the request itself (default 30 s), inside
	 * the run's, which also covers starting the sandbox */
	json_t *ts = json_object_get(o, "timeout_s");
	if (ts && (!json_is_integer(ts) || json_integer_value(ts) < 1 || json_integer_value(ts) > 300)) {
		snprintf(why, wlen, "timeout_s must be an integer from 1 to 300");
		goto out;
	}
	uint64_t budget = now_ms_mono() + (ts ? (uint64_t)json_integer_value(ts) : 30) * 1000;
	if (budget < r->deadline_ms)
		r->deadline_ms = budget;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* ---- the transfer ---- */

static curl_socket_t hreq_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct hreq *r = clientp;
	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	/* the last word: libcurl may connect only to an address we vetted,
	 * whatever its own parser or resolver made of the URL */
	int match = 0;
	for (int i = 0; i < r->target.naddrs && !match; i++) {
		const struct sockaddr_storage *v = &r->target.addrs[i];
		if (a->family == AF_INET && v->ss_family == AF_INET) {
			const struct sockaddr_in *x = (const void *)&a->addr, *y = (const void *)v;
			match = x->sin_addr.s_addr == y->sin_addr.s_addr && ntohs(x->sin_port) == r->target.port;
		} else if (a->family == AF_INET6 && v->ss_family == AF_INET6) {
			const struct sockaddr_in6 *x = (const void *)&a->addr, *y = (const void *)v;
			match = !memcmp(&x->sin6_addr, &y->sin6_addr, 16) && ntohs(x->sin6_port) == r->target.port;
		}
	}
	if (!match) {
		r->pin_violation = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t hreq_write(char *p, size_t size, size_t n, void *arg)
{
	struct hreq *r = arg;
	size_t len = size * n;
	if (r->rbody.len + len > r->max_bytes) {
		r->over_cap = 1;
		return 0;
	}
	buf_put(&r->rbody, p, len);
	return len;
}

static size_t hreq_header(char *p, size_t size, size_t n, void *arg)
{
	struct hreq *r = arg;
	size_t len = size * n;
	if (len >= 5 && !memcmp(p, "HTTP/", 5))
		buf_reset(&r->rhdrs);  /* a new response (after a 1xx): its headers only */
	if (r->rhdrs.len + len > HREQ_RESP_HEADERS_MAX)
		return 0;
	buf_put(&r->rhdrs, p, len);
	return len;
}

/* In a URL a secret goes percent-encoded (all but RFC 3986 unreserved), so
 * a '&', '#' or '/' in it cannot change the URL's structure; in headers
 * and bodies it goes as stored. */
static char *substitute_as(const struct hreq *r, const char *s, size_t len, size_t *outlen, int in_url)
{
	struct ph_value vals[HREQ_SECRETS_MAX];
	uint8_t *enc[HREQ_SECRETS_MAX] = {0};
	size_t enclen[HREQ_SECRETS_MAX] = {0};
	for (int i = 0; i < r->nsecs; i++) {
		const uint8_t *v = r->secs[i].val;
		size_t n = r->secs[i].len;
		if (in_url) {
			enclen[i] = 3 * n;
			enc[i] = secret_alloc(enclen[i] + 1, &enclen[i]);
			size_t k = 0;
			for (size_t j = 0; j < n; j++) {
				if (isalnum(v[j]) || strchr("-._~", v[j]))
					enc[i][k++] = v[j];
				else
					k += (size_t)snprintf((char *)enc[i] + k, 4, "%%%02X", v[j]);
			}
			v = enc[i];
			n = k;
		}
		vals[i] = (struct ph_value){r->secs[i].name, v, n};
	}
	char *out = ph_substitute(s, len, vals, (size_t)r->nsecs, outlen);
	for (int i = 0; i < r->nsecs; i++)
		secmem_free(enc[i], enclen[i]);
	return out;
}

static char *substitute(const struct hreq *r, const char *s, size_t len, size_t *outlen)
{
	return substitute_as(r, s, len, outlen, 0);
}

static void hreq_perform(struct hreq *r)
{
	uint64_t now = now_ms_mono();
	if (now + 50 >= r->deadline_ms) {
		hreq_fail(r, "timeout", "the request ran out of time");
		return;
	}
	size_t n;
	/* secrets go only where the template put them, and only on hop 0 or
	 * to the same origin */
	r->sent_url = r->hop == 0 ? substitute_as(r, r->url, strlen(r->url), &n, 1) : xstrdup(r->url);
	if (!r->sent_url) {
		hreq_fail(r, "internal", "substitution failed");
		return;
	}
	CURL *e = curl_easy_init();
	if (!e)
		fatal("curl_easy_init");
	r->easy = e;
	for (int i = 0; i < r->nhdrs; i++) {
		struct hheader *h = &r->hdrs[i];
		if (r->cross_origin && (h->has_ph || !strcasecmp(h->name, "authorization") || !strcasecmp(h->name, "cookie")))
			continue;
		size_t vlen;
		char *v = h->has_ph ? substitute(r, h->value, strlen(h->value), &vlen) : xstrdup(h->value);
		if (!v || !value_ok(v, strlen(v))) {
			wipe_free(v, v ? strlen(v) : 0);
			hreq_fail(r, "invalid_input", "header %s would carry CR, LF or NUL after substitution", h->name);
			return;
		}
		char *line = xasprintf("%s: %s", h->name, v);
		wipe_free(v, strlen(v));
		r->hl = curl_slist_append(r->hl, line);
		wipe_free(line, strlen(line));
		if (!r->hl)
			fatal("curl_slist_append");
	}
	r->hl = curl_slist_append(r->hl, "Expect:");
	char entry[1024];
	int off = snprintf(entry, sizeof entry, "%s:%u:", r->target.host, r->target.port);
	for (int i = 0; i < r->target.naddrs && off < (int)sizeof entry - 64; i++) {
		char a[INET6_ADDRSTRLEN + 2];
		egress_addr_str(&r->target.addrs[i], 1, a, sizeof a);
		off += snprintf(entry + off, sizeof entry - (size_t)off, "%s%s", i ? "," : "", a);
	}
	if (!r->target.literal) {
		r->resolve = curl_slist_append(r->resolve, entry);
		char dotted[1100];
		snprintf(dotted, sizeof dotted, "%s.%s", r->target.host, strchr(entry, ':'));
		r->resolve = curl_slist_append(r->resolve, dotted);
	}
	buf_init(&r->rbody);
	buf_init(&r->rhdrs);
	uint64_t left = r->deadline_ms - now;
	curl_easy_setopt(e, CURLOPT_URL, r->sent_url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_RESOLVE, r->resolve);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, hreq_opensocket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &eg.ca);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(left < 10000 ? left : 10000));
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hl);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "helmdeck/" HELMDECK_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hreq_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, hreq_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (r->body && strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
		r->sent_body = r->hop == 0 || !r->cross_origin ? substitute(r, r->body, r->body_len, &r->sent_body_len)
							       : NULL;
		if (!r->sent_body) {
			r->sent_body = xmalloc(r->body_len + 1);
			memcpy(r->sent_body, r->body, r->body_len + 1);
			r->sent_body_len = r->body_len;
		}
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->sent_body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->sent_body_len);
	}
	egress_add_easy(e);
}

/* ---- the answer ---- */

static uint8_t *scrub_all(const struct hreq *r, uint8_t *in, size_t len, size_t *outlen, unsigned *count)
{
	for (int i = 0; i < r->nsecs; i++) {
		size_t nl;
		uint8_t *o = scrub_secret(in, len, r->secs[i].val, r->secs[i].len, &nl, count);
		explicit_bzero(in, len);
		free(in);
		in = o;
		len = nl;
	}
	*outlen = len;
	return in;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = xmalloc(n + 1);
	if (n)
		memcpy(d, p, n);
	d[n] = 0;
	return d;
}

static json_t *parse_headers(const uint8_t *raw, size_t len)
{
	json_t *h = json_object();
	const char *p = (const char *)raw, *end = p + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = eol ? (size_t)(eol - p) : (size_t)(end - p);
		const char *colon = memchr(p, ':', ll);
		if (colon && strncmp(p, "HTTP/", 5)) {
			char name[129];
			size_t nl = (size_t)(colon - p) < 128 ? (size_t)(colon - p) : 128;
			for (size_t i = 0; i < nl; i++)
				name[i] = (char)tolower((unsigned char)p[i]);
			name[nl] = '\0';
			const char *v = colon + 1;
			const char *ve = p + ll;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			char *val = utf8_sanitize((const uint8_t *)v, (size_t)(ve - v), NULL);
			json_t *old = json_object_get(h, name);
			if (old) {
				char *j = xasprintf("%s, %s", json_string_value(old), val);
				json_object_set_new(h, name, json_string(j));
				free(j);
			} else {
				json_object_set_new(h, name, json_string(val));
			}
			free(val);
		}
		p += ll + (eol ? 1 : 0);
	}
	return h;
}

static void hreq_answer(struct hreq *r, long status)
{
	unsigned redacted = 0;
	size_t hl, bl, ul;
	uint8_t *hdrs = scrub_all(r, dup_bytes(r->rhdrs.data, r->rhdrs.len), r->rhdrs.len, &hl, &redacted);
	uint8_t *body = scrub_all(r, dup_bytes(r->rbody.data, r->rbody.len), r->rbody.len, &bl, &redacted);
	uint8_t *url = scrub_all(r, dup_bytes((const uint8_t *)r->sent_url, strlen(r->sent_url)), strlen(r->sent_url),
				 &ul, &redacted);
	json_t *o = json_object();
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "headers", parse_headers(hdrs, hl));
	if (utf8_valid(body, bl)) {
		json_object_set_new(o, "body", json_stringn((const char *)body, bl));
	} else {
		char *b = xmalloc(b64_encoded_len(bl, 0) + 1);
		b64_encode(body, bl, b, 0);
		json_object_set_new(o, "body_base64", json_string(b));
		free(b);
	}
	char *us = utf8_sanitize(url, ul, NULL);
	json_object_set_new(o, "url", json_string(us));
	free(us);
	json_object_set_new(o, "redirects", json_integer(r->hop));
	json_object_set_new(o, "bytes", json_integer((json_int_t)r->rbody.len));
	json_object_set_new(o, "redacted", json_integer(redacted));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(hdrs);
	free(body);
	free(url);
	if (!s)
		fatal("json_dumps");
	egress_reply(r->sup_id, 1, NULL, NULL, s);
	free(s);
	hreq_free(r);
}

static void hreq_vetted(void *arg, int ok, const char *code, const char *why);

static int same_origin(const struct hreq *r)
{
	char o[300];
	snprintf(o, sizeof o, "%s://%s:%u", r->target.scheme, r->target.host, r->target.port);
	return !strcmp(o, r->origin);
}

static void hreq_redirect(struct hreq *r, long status, const char *loc)
{
	char why[256];
	char *next = xstrdup(loc);
	hreq_free_transfer(r);
	free(r->url);
	r->url = next;
	r->hop++;
	if (egress_parse_url(next, &r->target, why, sizeof why) < 0) {
		hreq_fail(r, "invalid_input", "redirect %d refused: %s", r->hop, why);
		return;
	}
	if (status == 303 || ((status == 301 || status == 302) && !strcmp(r->method, "POST"))) {
		if (strcmp(r->method, "HEAD"))
			snprintf(r->method, sizeof r->method, "GET");
	}
	r->cross_origin |= !same_origin(r);
	egress_vet(&r->target, r->actor, r->client, r->pack, r->hop, hreq_vetted, r);
}

static int hreq_live(const struct hreq *r)
{
	for (int i = 0; i < HREQ_MAX; i++)
		if (hreqs[i] == r)
			return 1;
	return 0;
}

void egress_http_done(CURL *easy, CURLcode rc)
{
	struct hreq *r = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	if (!r || !hreq_live(r) || r->easy != easy)
		fatal("a transfer finished that no request owns");
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->over_cap) {
		hreq_fail(r, "resource_exhausted", "the response body is larger than max_bytes (%zu)", r->max_bytes);
		return;
	}
	if (r->pin_violation) {
		hreq_fail(r, "invalid_input", "request to %s refused: the connection was to an address that was not vetted",
			  r->target.host);
		return;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		hreq_fail(r, "timeout", "no complete answer from %s in time", r->target.host);
		return;
	}
	if (rc != CURLE_OK) {
		hreq_fail(r, "handler_failed", "request to %s failed: %s%s%s", r->target.host, curl_easy_strerror(rc),
			  r->errbuf[0] ? ": " : "", r->errbuf);
		return;
	}
	char *loc = NULL;
	curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &loc);
	if (r->follow && loc && (status == 301 || status == 302 || status == 303 || status == 307 || status == 308)) {
		if (r->hop >= HREQ_REDIRECTS_MAX) {
			hreq_fail(r, "handler_failed", "more than %d redirects", HREQ_REDIRECTS_MAX);
			return;
		}
		hreq_redirect(r, status, loc);
		return;
	}
	hreq_answer(r, status);
}

/* ---- secrets from the vault ---- */

static void hreq_ask_vault(struct hreq *r)
{
	if (r->nsecs == 0) {
		hreq_perform(r);
		return;
	}
	r->secs_pending = r->nsecs;
	for (int i = 0; i < r->nsecs; i++) {
		struct p_vault_resolve q = {r->secs[i].name, "", r->actor, r->client, r->target.host, r->target.path,
					    "http.fetch"};
		if (egress_vault_resolve(&q, &r->secs[i].link_id) < 0) {
			hreq_fail(r, "internal", "the vault is not available; try again");
			return;
		}
	}
}

int egress_http_secret(uint32_t link_id, const struct p_vault_secret *s)
{
	for (int k = 0; k < HREQ_MAX; k++) {
		struct hreq *r = hreqs[k];
		for (int i = 0; r && i < r->nsecs; i++) {
			struct hsecret *h = &r->secs[i];
			if (h->link_id != link_id || h->got)
				continue;
			h->got = 1;
			r->secs_pending--;
			if (!s->ok) {
				/* one refusal ends the request; later answers find no one */
				for (int j = 0; j < r->nsecs; j++)
					r->secs[j].got = 1;
				hreq_fail(r, s->code[0] ? s->code : "credential_invalid", "%s", s->message);
				return 0;
			}
			if (strcmp(s->name, h->name) || s->secret_len == 0)
				return -1;
			h->val = secret_alloc(s->secret_len, &h->maplen);
			memcpy(h->val, s->secret, s->secret_len);
			h->len = s->secret_len;
			if (r->secs_pending == 0)
				hreq_perform(r);
			return 0;
		}
	}
	/* the request it was for already ended (another secret was refused);
	 * an id we never issued is a broken vault */
	return link_id && link_id <= eg.vault_seq ? 0 : -1;
}

void egress_http_link_lost(void)
{
	for (int k = 0; k < HREQ_MAX; k++) {
		struct hreq *r = hreqs[k];
		if (r && r->secs_pending > 0 && !r->easy)
			hreq_fail(r, "internal", "the vault went away while this request waited for it; try again");
	}
}

/* ---- start ---- */

static void hreq_vetted(void *arg, int ok, const char *code, const char *why)
{
	struct hreq *r = arg;
	if (!ok) {
		hreq_fail(r, code, "%s", why);
		return;
	}
	if (r->hop == 0)
		hreq_ask_vault(r);
	else
		hreq_perform(r);
}

void egress_http_start(uint32_t sup_id, const struct p_egress_fetch *m)
{
	struct hreq *r = xcalloc(1, sizeof *r);
	r->sup_id = sup_id;
	snprintf(r->actor, sizeof r->actor, "%s", m->actor);
	snprintf(r->client, sizeof r->client, "%s", m->client);
	snprintf(r->pack, sizeof r->pack, "%s", m->pack);
	r->deadline_ms = now_ms_mono() + (m->timeout_ms ? m->timeout_ms : 30000);
	int slot = -1;
	for (int i = 0; i < HREQ_MAX && slot < 0; i++)
		if (!hreqs[i])
			slot = i;
	if (slot < 0) {
		hreq_fail(r, "resource_exhausted", "too many outbound requests in flight");
		return;
	}
	hreqs[slot] = r;
	char why[512];
	if (hreq_parse(r, m->req, m->req_len, why, sizeof why) < 0) {
		hreq_fail(r, "invalid_input", "%s", why);
		return;
	}
	if (egress_parse_url(r->url, &r->target, why, sizeof why) < 0) {
		hreq_fail(r, "invalid_input", "%s", why);
		return;
	}
	snprintf(r->origin, sizeof r->origin, "%s://%s:%u", r->target.scheme, r->target.host, r->target.port);
	egress_vet(&r->target, r->actor, r->client, r->pack, 0, hreq_vetted, r);
}
